package imaging

import (
	"image"
	"image/color"
	"testing"
)

// solid returns a w x h image of one colour.
func solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// inked counts the pixels of r that differ from the background.
func inked(img *image.RGBA, r image.Rectangle) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) != figBackground {
				n++
			}
		}
	}
	return n
}

func TestFigureSize(t *testing.T) {
	ff, err := newFigFaces()
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	if ff.textH < figTextSize || ff.titleH < figTitleFor {
		t.Fatalf("line heights %d, %d below the font sizes", ff.textH, ff.titleH)
	}
	red := solid(40, 30, color.RGBA{255, 0, 0, 255})
	row := func(n int) FigureRow {
		r := FigureRow{Label: "gradcam: 243 bull mastiff"}
		for i := 0; i < n; i++ {
			r.Panels = append(r.Panels, Panel{Image: red, Caption: "overlay"})
		}
		return r
	}
	for _, tc := range []struct {
		name       string
		f          Figure
		wantW      int
		wantH      int
		checkNotes bool
	}{
		{"one row of three", Figure{Title: "both.png", Rows: []FigureRow{row(3)}, Cell: 100},
			2*figMargin + 3*100 + 2*figGap, 2*figMargin + ff.titleH + 2*ff.textH + 75, false},
		{"three rows, no title, default cell", Figure{Rows: []FigureRow{row(3), row(3), row(3)}},
			2*figMargin + 3*224 + 2*figGap, 2*figMargin + 3*(2*ff.textH+168) + 2*figGap, false},
		{"ragged rows take the widest", Figure{Rows: []FigureRow{row(1), row(2)}, Cell: 50},
			2*figMargin + 2*50 + figGap, 2*figMargin + 2*(2*ff.textH+38) + figGap, false},
		{"notes add a column", Figure{Rows: []FigureRow{row(2)}, Notes: []string{"top-5", "243 bull mastiff 61.0%"}, Cell: 80},
			-1, 2*figMargin + 2*ff.textH + 60, true},
		{"a row without pictures is square", Figure{Rows: []FigureRow{{Panels: []Panel{{Caption: "empty"}}}}, Cell: 90},
			2*figMargin + 90, 2*figMargin + 2*ff.textH + 90, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := tc.f.Draw()
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if tc.wantW >= 0 && b.Dx() != tc.wantW || b.Dy() != tc.wantH {
				t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.wantW, tc.wantH)
			}
			if tc.checkNotes {
				grid := 2*figMargin + 2*80 + figGap
				if w := b.Dx() - grid - figGap; w < figNotesMin || w > figNotesMax {
					t.Errorf("notes column %d pixels wide, want %d..%d", w, figNotesMin, figNotesMax)
				}
			}
		})
	}
}

func TestFigureDrawsLabelsAndPanels(t *testing.T) {
	tall := solid(20, 80, color.RGBA{0, 0, 255, 255})
	f := Figure{
		Title: "both.png — mobilenet_v2",
		Rows: []FigureRow{
			{Label: "gradcam: 243 bull mastiff", Panels: []Panel{{Image: tall, Caption: "original"}, {Caption: "heatmap"}}},
			{Label: "", Panels: []Panel{{Image: tall}}},
		},
		Notes: []string{"top-5:", "243 bull mastiff 61.2%"},
		Cell:  100,
	}
	img, err := f.Draw()
	if err != nil {
		t.Fatal(err)
	}
	ff, _ := newFigFaces()
	defer ff.Close()
	l := f.layout(ff)
	if l.size != img.Bounds().Size() {
		t.Fatalf("layout size %v, image %v", l.size, img.Bounds().Size())
	}
	for _, tc := range []struct {
		name  string
		r     image.Rectangle
		inked bool
	}{
		{"title", l.title, true},
		{"row label", l.labels[0], true},
		{"empty row label", l.labels[1], false},
		{"caption", l.captions[0][0], true},
		{"second caption", l.captions[0][1], true},
		{"missing caption", l.captions[1][0], false},
		{"notes", l.notes, true},
		{"margin", image.Rect(0, 0, figMargin, img.Bounds().Dy()), false},
	} {
		if got := inked(img, tc.r) > 0; got != tc.inked {
			t.Errorf("%s %v: inked %v, want %v", tc.name, tc.r, got, tc.inked)
		}
	}
	// The tall image is fitted to the cell's height (25x100) and centred,
	// leaving background on both sides.
	c := l.cells[0][0]
	mid := c.Min.Y + c.Dy()/2
	if got := img.RGBAAt(c.Min.X+c.Dx()/2, mid); got != (color.RGBA{0, 0, 255, 255}) {
		t.Errorf("cell centre %v, want the blue image", got)
	}
	for _, x := range []int{c.Min.X + 2, c.Max.X - 3} {
		if got := img.RGBAAt(x, mid); got != figBackground {
			t.Errorf("cell side at x=%d is %v, want background", x, got)
		}
	}
	blue := 0
	for x := c.Min.X; x < c.Max.X; x++ {
		if p := img.RGBAAt(x, mid); p.B > 128 && p.R < 128 {
			blue++
		}
	}
	if blue < 23 || blue > 27 {
		t.Errorf("fitted image %d pixels wide, want about 25", blue)
	}
	// A panel without an image is filled with the empty colour.
	e := l.cells[0][1]
	if got := img.RGBAAt(e.Min.X+e.Dx()/2, e.Min.Y+e.Dy()/2); got != figEmpty {
		t.Errorf("empty cell %v, want %v", got, figEmpty)
	}
}

func TestFigureTextIsCut(t *testing.T) {
	long := "gradcam: 243 bull mastiff, with a label much longer than any cell could ever hold"
	f := Figure{Rows: []FigureRow{{Label: long, Panels: []Panel{{Caption: long}}}}, Cell: 60}
	img, err := f.Draw()
	if err != nil {
		t.Fatal(err)
	}
	ff, _ := newFigFaces()
	defer ff.Close()
	l := f.layout(ff)
	right := image.Rect(l.labels[0].Max.X, 0, img.Bounds().Dx(), img.Bounds().Dy())
	if n := inked(img, right); n != 0 {
		t.Errorf("%d pixels of text spill right of the grid", n)
	}
	if inked(img, l.labels[0]) == 0 {
		t.Error("the cut label is not drawn")
	}
}

func TestFigureEmpty(t *testing.T) {
	if _, err := (&Figure{}).Draw(); err == nil {
		t.Error("an empty figure drew without error")
	}
}
