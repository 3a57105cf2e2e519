"""Issue types beyond wrong labels, one module each, found in representation space."""
