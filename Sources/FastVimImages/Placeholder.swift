// Filled by the image-pipeline work.
