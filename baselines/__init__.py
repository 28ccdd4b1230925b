"""One-shot denoisers the paper compares against (Table 4): DnCNN, a convolutional autoencoder, BM3D."""
