// Package imaging turns photos into model input tensors and class
// activation maps into pictures.
//
// Decode reads PNG, JPEG (upright per its EXIF orientation), GIF, BMP,
// TIFF and WebP with a pixel limit checked before decoding. Preprocess
// describes the recipes that classifiers expect (named presets for
// torchvision, Keras and TF-slim models) and returns, with the tensor, the
// Geometry of the photo rectangle the model saw. ResizeBilinear resizes
// maps exactly as OpenCV's INTER_LINEAR does on float32 data (or with
// align_corners), and Colorize and Overlay paint maps with OpenCV's
// colormaps, over the photo at its full resolution.
package imaging
