package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/gradcam/gradcam/engine"
	"github.com/gradcam/gradcam/onnx"
)

// layersCmd prints a model's layer catalog.
type layersCmd struct {
	Model string `short:"m" required:"" help:"ONNX model file." placeholder:"MODEL.onnx"`
	JSON  bool   `name:"json" help:"Print the catalog as one JSON object."`
}

// Help shows examples.
func (c *layersCmd) Help() string {
	return `Lists the layers of a model in execution order, like Keras'
model.summary(): name, op, output shape (N for a dynamic batch dimension)
and parameter count. The layer Grad-CAM explains when no --layer is given
is marked with "<- auto target". Pass a name from this list (the node or
its output tensor) to 'gradcam explain --layer'.

Examples:

    gradcam layers --model mobilenet_v2_1.0_224.onnx
    gradcam layers -m resnet50.onnx --json`
}

// layerJSON is one layer of the JSON catalog.
type layerJSON struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Output string `json:"output"`
	// Shape has -1 for a dynamic batch dimension.
	Shape  []int `json:"shape"`
	Params int   `json:"params"`
	Target bool  `json:"auto_target,omitempty"`
}

// catalogJSON is the JSON catalog.
type catalogJSON struct {
	Model       string      `json:"model"`
	Layers      []layerJSON `json:"layers"`
	TotalParams int         `json:"total_params"`
	AutoTarget  string      `json:"auto_target,omitempty"`
}

// Run prints the catalog.
func (c *layersCmd) Run(g *globals) error {
	gr, err := onnx.Load(c.Model)
	if err != nil {
		return err
	}
	e, err := engine.New(gr)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Model, err)
	}
	layers, err := e.Layers()
	if err != nil {
		return fmt.Errorf("%s: %w", c.Model, err)
	}
	dynamic := false
	if ins := e.Inputs(); len(ins) > 0 && len(ins[0].Shape) > 0 {
		dynamic = ins[0].Shape[0].Value <= 0
	}
	cat := catalogJSON{Model: filepath.Base(c.Model)}
	for _, l := range layers {
		s := append([]int(nil), l.Shape...)
		if dynamic && len(s) > 0 {
			s[0] = -1
		}
		cat.Layers = append(cat.Layers, layerJSON{Name: l.Name, Op: l.Op, Output: l.Output, Shape: s, Params: l.Params, Target: l.Target})
		cat.TotalParams += l.Params
		if l.Target {
			cat.AutoTarget = l.Output
		}
	}
	if c.JSON {
		return printJSON(g.stdout, cat)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tLayer (op)\tOutput shape\tParams\t")
	for i, l := range cat.Layers {
		name := l.Output
		mark := ""
		if l.Target {
			mark = "<- auto target"
		}
		fmt.Fprintf(tw, "%d\t%s (%s)\t%s\t%s\t%s\n", i+1, name, l.Op, shapeString(l.Shape), groupDigits(l.Params), mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "\nLayers: %d\nTotal params: %s\n", len(cat.Layers), groupDigits(cat.TotalParams))
	if cat.AutoTarget != "" {
		fmt.Fprintf(g.stdout, "Automatic target layer: %s\n", cat.AutoTarget)
	} else {
		fmt.Fprintf(g.stdout, "Automatic target layer: none found; name one with --layer\n")
	}
	return nil
}

// shapeString formats a shape as [N, 1280, 7, 7], -1 shown as N.
func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "N"
		} else {
			parts[i] = strconv.Itoa(d)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// groupDigits writes 3504872 as 3,504,872.
func groupDigits(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
