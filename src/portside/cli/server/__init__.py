"""Commands that run the server or work on its database and storage directly."""
