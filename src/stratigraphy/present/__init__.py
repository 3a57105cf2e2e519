"""What people look at: the report, its figures and the review application."""
