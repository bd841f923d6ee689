"""Dataset indexes, synthesised fakes, training and evaluation."""
