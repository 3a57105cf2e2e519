"""The run directory contract: file layout, identity checks, and a read-only view of a finished
run that knows nothing of the job."""
