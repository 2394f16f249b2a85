module github.com/gradcam/gradcam

go 1.26.8
