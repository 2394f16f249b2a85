package batch

import (
	"context"

	"github.com/gradcam/gradcam"
)

// Predictor classifies items with a model. It may be used by several
// goroutines at once.
type Predictor struct {
	Model *gradcam.Model
	// K is the number of classes kept per image; 0 means 5.
	K int
	// Source says how items are read.
	Source Source
}

// PredictRecord is the JSON summary of one classified image.
type PredictRecord struct {
	Image       string               `json:"image"`
	Model       string               `json:"model"`
	Preprocess  string               `json:"preprocess,omitempty"`
	Predictions []gradcam.Prediction `json:"predictions,omitempty"`
	Error       string               `json:"error,omitempty"`
}

// Predict reads an item and returns its K most probable classes, one
// record per image (several for an .npy batch).
func (p *Predictor) Predict(ctx context.Context, it Item) ([]PredictRecord, error) {
	in, err := p.Source.load(p.Model, it)
	if err != nil {
		return nil, err
	}
	k := p.K
	if k <= 0 {
		k = 5
	}
	preds, err := p.Model.Predict(ctx, in.x, k)
	if err != nil {
		return nil, err
	}
	recs := make([]PredictRecord, len(preds))
	for i, top := range preds {
		recs[i] = PredictRecord{Image: in.names[i], Model: p.Model.Name, Preprocess: p.Model.PreprocessName, Predictions: top}
	}
	return recs, nil
}
