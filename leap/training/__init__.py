"""LeaP-T: SFT examples from stored runs, and fine-tuning a model on them."""
