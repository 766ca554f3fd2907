"""The survey itself: the Survey type (data + metadata), the instrument, missing reasons, grids."""
