package main

import (
	"fmt"

	"github.com/gradcam/gradcam/batch"
)

// predictCmd classifies images.
type predictCmd struct {
	modelFlags `embed:""`
	inputFlags `embed:""`
	Top        int  `short:"k" default:"5" help:"Number of classes shown per image." placeholder:"K"`
	JSON       bool `name:"json" help:"Print one JSON object per image (JSON Lines) instead of text."`
}

// Help shows examples.
func (c *predictCmd) Help() string {
	return `Prints each image's most probable classes with their softmax
probabilities, logits and labels.

Examples:

    gradcam predict --model mobilenet_v2_1.0_224.onnx --image both.png
    gradcam predict -m resnet50.onnx --top 3 --json photos/
    gradcam predict -m resnet50.onnx --input-tensor x.npy
    cat dog.jpg | gradcam predict -m resnet50.onnx -`
}

// Run classifies the images.
func (c *predictCmd) Run(g *globals) error {
	if c.Top <= 0 {
		return usagef("--top %d must be positive", c.Top)
	}
	items, err := c.items()
	if err != nil {
		return err
	}
	m, err := c.load(g)
	if err != nil {
		return err
	}
	p := &batch.Predictor{Model: m, K: c.Top, Source: c.source(g)}
	emit := func(it batch.Item, recs []batch.PredictRecord, err error) {
		if err != nil {
			if c.JSON {
				printJSON(g.stdout, batch.PredictRecord{Image: it.Name, Model: m.Name, Error: batch.ErrorLine(it, err)})
			}
			return
		}
		for _, r := range recs {
			if c.JSON {
				printJSON(g.stdout, r)
				continue
			}
			fmt.Fprintf(g.stdout, "%s:\n", r.Image)
			for i, p := range r.Predictions {
				fmt.Fprintf(g.stdout, "  %d. %6.2f%%  %4d %-28s logit %.3f\n", i+1, 100*p.Prob, p.Class, p.Label, p.Logit)
			}
		}
	}
	s := batch.Run(ctxOf(g), items, c.runOptions(g, len(items)), p.Predict, emit)
	return finish(g, s)
}
