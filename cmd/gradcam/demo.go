package main

import (
	"fmt"
	"strings"

	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/demo"
)

// demoCmd explains generated pictures with the embedded demo model.
type demoCmd struct {
	Out     string   `short:"o" default:"gradcam-demo" help:"Directory for the pictures and figures." placeholder:"DIR"`
	Seed    uint64   `default:"1" help:"Seed of the generated pictures." placeholder:"N"`
	Images  int      `default:"4" help:"Number of pictures." placeholder:"N"`
	Methods []string `short:"M" aliases:"method" default:"gradcam,gradcam++,scorecam" help:"Methods, comma-separated: ${methods}." placeholder:"NAME"`
}

// Help shows what the command writes, with examples.
func (c *demoCmd) Help() string {
	return `Generates pictures of shapes (circle, square, triangle, cross, star,
ring, diamond, heart) on cluttered backgrounds, classifies them with a
small CNN embedded in the binary (trained by gradcam's own engine, see
demo/internal/train), explains each picture's top class with every method
and writes into --out: the pictures (shape-N.png), an overlay per method
(shape-N.<method>.png), a figure per picture comparing the methods
(shape-N.grid.png: original | heatmap | overlay, with the top-5) and an
overview of all of them (demo.png). The object's box is drawn on the
originals: a good map is hot inside it.

Examples:

    gradcam demo
    gradcam demo --out /tmp/demo --seed 7 --images 8
    gradcam demo --methods gradcam,layercam,eigencam,ablationcam`
}

// Run writes the demo's pictures and prints the predictions.
func (c *demoCmd) Run(g *globals) error {
	var methods []cam.Method
	for _, s := range c.Methods {
		for _, name := range strings.Split(s, ",") {
			if strings.TrimSpace(name) == "" {
				continue
			}
			m, err := cam.ParseMethod(name)
			if err != nil {
				return asUsage(err)
			}
			if m == cam.GuidedBackprop {
				return usagef("--methods: %s gives no heatmap; the demo draws heatmaps", m)
			}
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		return usagef("--methods: no method given")
	}
	if c.Images < 1 || c.Images > 1000 {
		return usagef("--images %d must be between 1 and 1000", c.Images)
	}
	res, err := demo.Run(g.ctx, demo.Options{Out: c.Out, Seed: c.Seed, Images: c.Images, Methods: methods})
	if err != nil {
		return err
	}
	w := g.stdout
	for i, ir := range res.Images {
		top := ir.Top5[0]
		fmt.Fprintf(w, "%s: a %s; predicted %s (%.1f%%)", ir.Picture, ir.Label, top.Label, 100*top.Prob)
		if top.Class != ir.Sample.Class {
			fmt.Fprint(w, " — wrong")
		}
		fmt.Fprintln(w)
		for _, mr := range ir.Methods {
			where := "outside"
			if mr.InBox {
				where = "inside"
			}
			fmt.Fprintf(w, "  %-12s peak at (%d,%d), %s the box; %s\n", mr.Method, mr.Peak.X, mr.Peak.Y, where, mr.Overlay)
		}
		fmt.Fprintf(w, "  grid         %s\n", res.Images[i].Grid)
	}
	fmt.Fprintf(w, "overview: %s (%d files in %s)\n", res.Overview, len(res.Files), c.Out)
	return nil
}
