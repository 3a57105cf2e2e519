"""Data in: loading and validating every source (arrays, images, text, tables), the data
specification a run records, and planting known problems."""
