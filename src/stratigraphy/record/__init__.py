"""Training and recording: the recorder, the dynamics store, DDP merging, the training loop and
models, and the Lightning, Hugging Face and scikit-learn integrations."""
