package imaging

import (
	"fmt"
	"image"
	"image/color"
	"sync"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// Panel is one picture of a Figure with the caption drawn above it.
type Panel struct {
	// Image is scaled, keeping its aspect ratio, to fit the figure's
	// cell and centred in it. Nil leaves the cell empty (light grey).
	Image   image.Image
	Caption string
}

// FigureRow is one row of a Figure: a label line and panels side by side.
type FigureRow struct {
	Label  string
	Panels []Panel
}

// Figure lays pictures out in a grid with text, for comparing several
// explanations of one photo at a glance: a title line at the top, then per
// row a label line (e.g. the method and the class) and the row's panels
// (e.g. original | heatmap | overlay), each under its caption; Notes (e.g.
// the top-5 classes) fill a column on the right.
//
// Text is drawn with the Go fonts (golang.org/x/image/font/gofont), which
// are compiled in: no font files are needed. A text too wide for its place
// is cut short with an ellipsis.
type Figure struct {
	Title string
	Rows  []FigureRow
	Notes []string
	// Cell is the width of a panel, and the most height; 0 means 224.
	// A row is as tall as its tallest picture scaled to that width.
	Cell int
}

// Layout constants of Figure, in pixels.
const (
	figMargin   = 12 // around the whole figure
	figGap      = 8  // between panels, rows and the notes column
	figTextSize = 14 // font size of labels, captions and notes
	figTitleFor = 16 // font size of the title
	figNotesMin = 160
	figNotesMax = 360
)

var (
	figBackground = color.RGBA{255, 255, 255, 255}
	figText       = color.RGBA{20, 20, 20, 255}
	figEmpty      = color.RGBA{230, 230, 230, 255}
)

// goFonts parses the embedded Go fonts once. An sfnt.Font is safe for
// concurrent use; faces made from it are not, so each Draw makes its own.
var goFonts = sync.OnceValues(func() ([2]*sfnt.Font, error) {
	var fs [2]*sfnt.Font
	for i, ttf := range [][]byte{goregular.TTF, gobold.TTF} {
		f, err := opentype.Parse(ttf)
		if err != nil {
			return fs, fmt.Errorf("imaging: parsing the Go font: %w", err)
		}
		fs[i] = f
	}
	return fs, nil
})

// figFaces are the faces of one Draw call.
type figFaces struct {
	text, title font.Face
	textH       int // line height of text
	titleH      int // line height of the title
}

func newFigFaces() (*figFaces, error) {
	fs, err := goFonts()
	if err != nil {
		return nil, err
	}
	text, err := opentype.NewFace(fs[0], &opentype.FaceOptions{Size: figTextSize, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	title, err := opentype.NewFace(fs[1], &opentype.FaceOptions{Size: figTitleFor, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, err
	}
	return &figFaces{
		text: text, title: title,
		textH:  text.Metrics().Height.Ceil() + 4,
		titleH: title.Metrics().Height.Ceil() + 6,
	}, nil
}

func (ff *figFaces) Close() {
	ff.text.Close()
	ff.title.Close()
}

// figLayout is where everything of a figure goes.
type figLayout struct {
	size     image.Point
	title    image.Rectangle
	labels   []image.Rectangle   // per row
	captions [][]image.Rectangle // per row and panel
	cells    [][]image.Rectangle // per row and panel
	notes    image.Rectangle     // empty when there are no notes
}

// layout places the parts of f with the faces' line heights.
func (f *Figure) layout(ff *figFaces) figLayout {
	cell := f.Cell
	if cell <= 0 {
		cell = 224
	}
	cols := 0
	for _, r := range f.Rows {
		cols = max(cols, len(r.Panels))
	}
	var l figLayout
	x0, y := figMargin, figMargin
	gridW := 0
	if cols > 0 {
		gridW = cols*cell + (cols-1)*figGap
	}
	if f.Title != "" {
		l.title = image.Rect(x0, y, x0+max(gridW, 1), y+ff.titleH)
		y += ff.titleH
	}
	top := y
	for i, r := range f.Rows {
		if i > 0 {
			y += figGap
		}
		l.labels = append(l.labels, image.Rect(x0, y, x0+gridW, y+ff.textH))
		y += ff.textH
		rh := rowHeight(r, cell)
		var caps, cells []image.Rectangle
		for j := range r.Panels {
			x := x0 + j*(cell+figGap)
			caps = append(caps, image.Rect(x, y, x+cell, y+ff.textH))
			cells = append(cells, image.Rect(x, y+ff.textH, x+cell, y+ff.textH+rh))
		}
		l.captions = append(l.captions, caps)
		l.cells = append(l.cells, cells)
		y += ff.textH + rh
	}
	w := x0 + gridW
	if len(f.Notes) > 0 {
		nw := figNotesMin
		d := font.Drawer{Face: ff.text}
		for _, s := range f.Notes {
			nw = max(nw, d.MeasureString(s).Ceil()+4)
		}
		nw = min(nw, figNotesMax)
		nx := w
		if gridW > 0 {
			nx += figGap
		}
		l.notes = image.Rect(nx, top, nx+nw, top+len(f.Notes)*ff.textH)
		w = l.notes.Max.X
		y = max(y, l.notes.Max.Y)
	}
	if f.Title != "" {
		l.title.Max.X = max(l.title.Max.X, w)
	}
	l.size = image.Pt(w+figMargin, y+figMargin)
	return l
}

// rowHeight is the height of a row's cells: that of its tallest picture
// scaled to the cell's width, at most cell (a row of landscape photos is
// not padded to squares); cell when the row has no picture.
func rowHeight(r FigureRow, cell int) int {
	h := 0
	for _, p := range r.Panels {
		if p.Image == nil || p.Image.Bounds().Empty() {
			continue
		}
		b := p.Image.Bounds()
		h = max(h, min(cell, (cell*b.Dy()+b.Dx()-1)/b.Dx()))
	}
	if h == 0 {
		return cell
	}
	return h
}

// Draw renders the figure on a white background.
func (f *Figure) Draw() (*image.RGBA, error) {
	if len(f.Rows) == 0 && len(f.Notes) == 0 && f.Title == "" {
		return nil, fmt.Errorf("imaging: empty figure")
	}
	ff, err := newFigFaces()
	if err != nil {
		return nil, err
	}
	defer ff.Close()
	l := f.layout(ff)
	dst := image.NewRGBA(image.Rectangle{Max: l.size})
	xdraw.Draw(dst, dst.Bounds(), image.NewUniform(figBackground), image.Point{}, xdraw.Src)
	if f.Title != "" {
		drawText(dst, ff.title, l.title, f.Title)
	}
	for i, r := range f.Rows {
		drawText(dst, ff.text, l.labels[i], r.Label)
		for j, p := range r.Panels {
			drawText(dst, ff.text, l.captions[i][j], p.Caption)
			fitImage(dst, l.cells[i][j], p.Image)
		}
	}
	for k, s := range f.Notes {
		r := l.notes
		r.Min.Y += k * ff.textH
		r.Max.Y = r.Min.Y + ff.textH
		drawText(dst, ff.text, r, s)
	}
	return dst, nil
}

// drawText writes s on one line in r, left-aligned and vertically
// centred, cut short with an ellipsis when wider than r.
func drawText(dst *image.RGBA, face font.Face, r image.Rectangle, s string) {
	if s == "" || r.Dx() <= 0 {
		return
	}
	d := font.Drawer{Dst: dst, Src: image.NewUniform(figText), Face: face}
	s = fitText(&d, s, r.Dx())
	m := face.Metrics()
	// Baseline so that ascent+descent is centred in the line.
	base := r.Min.Y + (r.Dy()+m.Ascent.Ceil()-m.Descent.Ceil())/2
	d.Dot = fixed.P(r.Min.X, base)
	d.DrawString(s)
}

// fitText shortens s with a trailing ellipsis until it is at most w pixels
// wide.
func fitText(d *font.Drawer, s string, w int) string {
	if d.MeasureString(s).Ceil() <= w {
		return s
	}
	rs := []rune(s)
	for n := len(rs) - 1; n > 0; n-- {
		t := string(rs[:n]) + "…"
		if d.MeasureString(t).Ceil() <= w {
			return t
		}
	}
	return ""
}

// fitImage scales img into r keeping its aspect ratio, centred; a nil
// image fills r with the empty colour.
func fitImage(dst *image.RGBA, r image.Rectangle, img image.Image) {
	if img == nil || img.Bounds().Empty() {
		xdraw.Draw(dst, r, image.NewUniform(figEmpty), image.Point{}, xdraw.Src)
		return
	}
	b := img.Bounds()
	w, h := r.Dx(), r.Dy()
	if b.Dx()*h > b.Dy()*w {
		h = max(1, b.Dy()*w/b.Dx())
	} else {
		w = max(1, b.Dx()*h/b.Dy())
	}
	x := r.Min.X + (r.Dx()-w)/2
	y := r.Min.Y + (r.Dy()-h)/2
	target := image.Rect(x, y, x+w, y+h)
	if w == b.Dx() && h == b.Dy() {
		xdraw.Draw(dst, target, img, b.Min, xdraw.Src)
		return
	}
	// BiLinear widens its support when shrinking, so a large photo is
	// averaged rather than sampled.
	xdraw.BiLinear.Scale(dst, target, img, b, xdraw.Src, nil)
}
