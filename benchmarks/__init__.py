"""Side-by-side benchmark of Portside and the reference registry (distribution)."""
