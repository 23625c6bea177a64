"""Byte storage behind one small Protocol: content-addressed objects and append-only uploads."""
