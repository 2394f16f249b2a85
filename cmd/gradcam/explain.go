package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gradcam/gradcam/batch"
	"github.com/gradcam/gradcam/cam"
	"github.com/gradcam/gradcam/imaging"
)

// explainCmd explains images.
type explainCmd struct {
	modelFlags  `embed:""`
	inputFlags  `embed:""`
	Method      []string `short:"M" default:"gradcam" help:"Methods, comma-separated: ${methods}." placeholder:"NAME"`
	Layer       []string `short:"l" sep:"none" help:"Target layer (tensor or node name, see 'gradcam layers') or auto; repeat to fuse several by their mean." placeholder:"NAME"`
	Class       []int    `short:"c" help:"Class index to explain; several (comma-separated) give a map each (default: the top class)." placeholder:"N"`
	TopK        int      `name:"top-k" help:"Explain each image's K most probable classes, a map each." placeholder:"K"`
	Classes     string   `help:"Explain a weighted sum of classes in one map (multi-label): CLASS:WEIGHT,..." placeholder:"243:0.5,281:0.5"`
	Score       string   `enum:"logit,prob,probability" default:"logit" help:"Explained score: the logit (as pytorch-grad-cam) or the softmax probability (prob)."`
	AugSmooth   bool     `help:"Average the maps over flips and brightness changes (6 runs)."`
	EigenSmooth bool     `help:"Replace the weighted sum over channels by its first principal component."`
	Out         string   `short:"o" default:"." help:"Directory for the pictures, mirroring the input directories." placeholder:"DIR"`
	SaveCAM     string   `name:"save-cam" help:"Write the final maps as float32 .npy: a file for a single map, or a directory (ending in /)." placeholder:"F.npy|DIR/"`
	JSON        bool     `name:"json" help:"Print one JSON object per image (JSON Lines): model, layer, method, class, score, top-5, files."`
	Colormap    string   `enum:"${colormaps}" default:"jet" help:"Colormap of heatmaps and overlays: ${colormaps}."`
	Alpha       float64  `default:"0.5" help:"Weight of the heatmap in the overlay, in (0, 1]."`
	Format      string   `enum:"png,jpeg,jpg" default:"png" help:"Picture format: png or jpeg."`
	Heatmap     bool     `help:"Also write each coloured heatmap alone."`
	Grid        bool     `default:"true" negatable:"" help:"Write a figure per image comparing the methods (original | heatmap | overlay, top-5)."`
	Resume      bool     `help:"Skip images whose pictures exist already."`
}

// Help shows examples.
func (c *explainCmd) Help() string {
	return `Explains each image with one or more methods and writes, into --out,
for each method and explained class an overlay of the heatmap on the photo
(<name>.<method>.<class>.png), the guided images of the guided methods,
with --heatmap the heatmap alone, and a grid figure comparing the methods
(<name>.grid.png). A directory is searched recursively and its layout is
kept below --out. One unreadable image is reported and skipped; the exit
code is then 1.

Examples:

    gradcam explain --model mobilenet_v2_1.0_224.onnx --image both.png --method gradcam,gradcam++,scorecam --class 243 --out out/
    gradcam explain -m resnet50.onnx photos/ --glob '*.jpg' --top-k 3 --out out/ --resume
    gradcam explain -m resnet50.onnx -i dog.jpg --classes 243:0.5,281:0.5 --json --save-cam map.npy
    gradcam explain -m resnet50.onnx --input-tensor x.npy --method guided-backprop --save-cam gb.npy`
}

// Run explains the images.
func (c *explainCmd) Run(g *globals) error {
	var methods []cam.Method
	for _, s := range c.Method {
		for _, name := range strings.Split(s, ",") {
			if strings.TrimSpace(name) == "" {
				continue
			}
			m, err := cam.ParseMethod(name)
			if err != nil {
				return asUsage(err)
			}
			methods = append(methods, m)
		}
	}
	if len(methods) == 0 {
		return usagef("--method: no method given")
	}
	opt := cam.Options{Layers: c.Layer, Classes: c.Class, TopK: c.TopK}
	set := 0
	for _, b := range []bool{len(c.Class) > 0, c.TopK != 0, c.Classes != ""} {
		if b {
			set++
		}
	}
	if set > 1 {
		return usagef("give at most one of --class, --top-k and --classes")
	}
	if c.TopK < 0 {
		return usagef("--top-k %d must be positive", c.TopK)
	}
	if c.Classes != "" {
		w, err := parseWeights(c.Classes)
		if err != nil {
			return asUsage(err)
		}
		opt.Weights = w
	}
	if c.Score != "logit" {
		opt.Score = cam.Probability
	}
	opt.AugSmooth, opt.EigenSmooth = c.AugSmooth, c.EigenSmooth
	for i, l := range opt.Layers {
		if l == "auto" {
			opt.Layers[i] = ""
		}
	}
	if !(c.Alpha > 0 && c.Alpha <= 1) {
		return usagef("--alpha %g must be in (0, 1]", c.Alpha)
	}
	cm, err := imaging.ColormapByName(c.Colormap)
	if err != nil {
		return asUsage(err)
	}
	items, err := c.items(c.Out)
	if err != nil {
		return err
	}
	m, err := c.load(g)
	if err != nil {
		return err
	}
	e := &batch.Explainer{
		Model:   m,
		Methods: methods,
		Options: opt,
		Out:     c.Out,
		Format:  c.Format,
		Overlay: imaging.OverlayOptions{Colormap: cm, Alpha: c.Alpha},
		Heatmap: c.Heatmap,
		Grid:    c.Grid,
		SaveCAM: c.SaveCAM,
		Source:  c.source(g),
	}
	if err := e.Check(ctxOf(g), len(items)); err != nil {
		return asUsage(err)
	}
	ro := c.runOptions(g, len(items))
	if c.Resume {
		ro.Skip = e.Done
	}
	g.log.Debug("explaining", "images", len(items), "methods", fmt.Sprint(methods), "out", c.Out)
	emit := func(it batch.Item, recs []batch.Record, err error) {
		if err != nil {
			if c.JSON {
				printJSON(g.stdout, batch.Record{Image: it.Name, Model: m.Name, Error: batch.ErrorLine(it, err)})
			}
			return
		}
		for _, r := range recs {
			if c.JSON {
				printJSON(g.stdout, r)
				continue
			}
			printRecord(g, r)
		}
	}
	s := batch.Run(ctxOf(g), items, ro, e.Explain, emit)
	return finish(g, s)
}

// printRecord writes an explained image as text.
func printRecord(g *globals, r batch.Record) {
	w := g.stdout
	fmt.Fprintf(w, "%s:", r.Image)
	if len(r.Top5) > 0 {
		p := r.Top5[0]
		fmt.Fprintf(w, " top class %d %s (%.1f%%)", p.Class, p.Label, 100*p.Prob)
	}
	fmt.Fprintln(w)
	for _, x := range r.Explanations {
		var what string
		if x.Class != nil {
			what = fmt.Sprintf("%d %s", x.Class.Index, x.Class.Label)
		} else {
			parts := make([]string, len(x.Classes))
			for i, wc := range x.Classes {
				parts[i] = fmt.Sprintf("%g*%d %s", wc.Weight, wc.Index, wc.Label)
			}
			what = strings.Join(parts, " + ")
		}
		fmt.Fprintf(w, "  %-19s %s, %s %.4g", x.Method, what, x.ScoreKind, x.Score)
		if len(x.Files) > 0 {
			fmt.Fprintf(w, ": %s", strings.Join(x.Files, " "))
		}
		fmt.Fprintln(w)
	}
	if r.Grid != "" {
		fmt.Fprintf(w, "  %-19s %s\n", "grid", r.Grid)
	}
}

// parseWeights reads "243:0.5,281:0.5".
func parseWeights(s string) (map[int]float32, error) {
	w := make(map[int]float32)
	for _, part := range strings.Split(s, ",") {
		cs, ws, ok := strings.Cut(strings.TrimSpace(part), ":")
		c, err1 := strconv.Atoi(cs)
		v, err2 := strconv.ParseFloat(ws, 32)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("--classes %q: want CLASS:WEIGHT,... (e.g. 243:0.5,281:0.5)", s)
		}
		if _, dup := w[c]; dup {
			return nil, fmt.Errorf("--classes %q: class %d given twice", s, c)
		}
		w[c] = float32(v)
	}
	return w, nil
}
