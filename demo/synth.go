package demo

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
)

// Size is the side of the generated images, in pixels. It is also the
// input size of the embedded model.
const Size = 64

// classes are the shapes, in class-index order.
var classes = []string{"circle", "square", "triangle", "cross", "star", "ring", "diamond", "heart"}

// Classes returns the class names of the generated shapes and of the
// embedded model, in class-index order.
func Classes() []string { return append([]string(nil), classes...) }

// Sample is one generated image with the class of the object drawn on it
// and the box the object covers.
type Sample struct {
	// Image is a Size x Size picture (an *image.NRGBA).
	Image image.Image
	// Class indexes Classes.
	Class int
	// Box is the smallest rectangle holding every pixel the object
	// touches, before noise is added (Max is exclusive, as in image).
	Box image.Rectangle
}

// Generate returns n pictures, each with one object (a random class in a
// random colour and size, tilted by up to 15°, at a random place) on a
// cluttered background: a colour gradient, soft blobs, straight and zigzag
// strokes, specks and pixel noise, with now and then a stroke across the
// object. The object's colour always stands out from the background
// under its centre.
//
// The result depends only on seed and n, and sample i does not depend on
// n: Generate(s, 10)[:5] equals Generate(s, 5).
func Generate(seed uint64, n int) []Sample { return GenerateClutter(seed, n, 1) }

// GenerateClutter is Generate with the amount of clutter scaled by clutter
// in [0, 1]: the number of blobs, strokes and specks, the contrast of the
// background gradient and the strength of the noise. Zero gives plain
// objects on a faint gradient, one is Generate. Training starts on less
// clutter (a curriculum).
func GenerateClutter(seed uint64, n int, clutter float64) []Sample {
	clutter = min(max(clutter, 0), 1)
	out := make([]Sample, n)
	for i := range out {
		out[i] = generateOne(seed, uint64(i), clutter)
	}
	return out
}

// canvas is a float RGB image in 0..255, row-major.
type canvas struct {
	w, h int
	p    []float64 // 3 per pixel
}

func newCanvas(w, h int) *canvas { return &canvas{w: w, h: h, p: make([]float64, w*h*3)} }

// blend mixes colour c into pixel (x, y) with weight a in [0, 1].
func (cv *canvas) blend(x, y int, c [3]float64, a float64) {
	if a <= 0 || x < 0 || y < 0 || x >= cv.w || y >= cv.h {
		return
	}
	a = min(a, 1)
	i := (y*cv.w + x) * 3
	for k := range 3 {
		cv.p[i+k] += (c[k] - cv.p[i+k]) * a
	}
}

func (cv *canvas) at(x, y int) [3]float64 {
	x = min(max(x, 0), cv.w-1)
	y = min(max(y, 0), cv.h-1)
	i := (y*cv.w + x) * 3
	return [3]float64{cv.p[i], cv.p[i+1], cv.p[i+2]}
}

func (cv *canvas) image() *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, cv.w, cv.h))
	for y := range cv.h {
		for x := range cv.w {
			i := (y*cv.w + x) * 3
			img.SetNRGBA(x, y, color.NRGBA{R: clamp8(cv.p[i]), G: clamp8(cv.p[i+1]), B: clamp8(cv.p[i+2]), A: 255})
		}
	}
	return img
}

func clamp8(v float64) uint8 {
	return uint8(min(max(math.Round(v), 0), 255))
}

func randColor(r *rand.Rand) [3]float64 {
	return [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
}

func colorDist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// maxTilt is the largest rotation of an object, in radians (15°): the
// shapes keep their usual orientation, so that a small network learns
// them in minutes.
const maxTilt = 15 * math.Pi / 180

// generateOne draws sample i of a seed.
func generateOne(seed, i uint64, clutter float64) Sample {
	// Hash (seed, i) so that neighbouring seeds and indices give unrelated
	// streams.
	h := splitmix64(seed ^ splitmix64(i))
	r := rand.New(rand.NewPCG(h, splitmix64(h)))
	cv := newCanvas(Size, Size)
	background(r, cv, clutter)

	class := r.IntN(len(classes))
	rad := uniform(r, 8, 15) // circumradius in pixels
	cx := uniform(r, rad+1, Size-rad-1)
	cy := uniform(r, rad+1, Size-rad-1)
	angle := uniform(r, -maxTilt, maxTilt)
	// The object's colour stands out from the background under it.
	bg := cv.at(int(cx), int(cy))
	col := randColor(r)
	for try := 0; try < 50 && colorDist(col, bg) < 110; try++ {
		col = randColor(r)
	}
	box := drawShape(cv, class, cx, cy, rad, angle, uniform(r, 0.85, 1.15), col)

	// A thin stroke across the object now and then.
	if r.Float64() < 0.25*clutter {
		a := [2]float64{uniform(r, 0, Size), uniform(r, 0, Size)}
		b := [2]float64{cx + (cx - a[0]), cy + (cy - a[1])}
		drawSegment(cv, a, b, uniform(r, 0.7, 1.5), randColor(r), uniform(r, 0.5, 1))
	}
	// Pixel noise.
	sigma := uniform(r, 3, 3+15*clutter)
	for k := range cv.p {
		cv.p[k] += r.NormFloat64() * sigma
	}
	return Sample{Image: cv.image(), Class: class, Box: box}
}

// splitmix64 is the finaliser of SplitMix64 (Steele, Lea and Flood 2014,
// "Fast Splittable Pseudorandom Number Generators"), a bijective mix.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// background paints a gradient, soft blobs, strokes and specks.
func background(r *rand.Rand, cv *canvas, clutter float64) {
	// count scales a random count by the clutter.
	count := func(n int) int { return int(math.Round(float64(n) * clutter)) }
	c0, c1 := randColor(r), randColor(r)
	for k := range 3 {
		c1[k] = c0[k] + (c1[k]-c0[k])*(0.2+0.8*clutter)
	}
	th := uniform(r, 0, 2*math.Pi)
	dx, dy := math.Cos(th), math.Sin(th)
	for y := range cv.h {
		for x := range cv.w {
			t := ((float64(x)-Size/2)*dx+(float64(y)-Size/2)*dy)/Size + 0.5
			t = min(max(t, 0), 1)
			i := (y*cv.w + x) * 3
			for k := range 3 {
				cv.p[i+k] = c0[k] + (c1[k]-c0[k])*t
			}
		}
	}
	// Soft blobs: anisotropic Gaussians.
	for range count(r.IntN(5)) {
		c := randColor(r)
		bx, by := uniform(r, 0, Size), uniform(r, 0, Size)
		sx, sy := uniform(r, 4, 14), uniform(r, 4, 14)
		peak := uniform(r, 0.3, 0.8)
		for y := range cv.h {
			for x := range cv.w {
				u, v := (float64(x)-bx)/sx, (float64(y)-by)/sy
				cv.blend(x, y, c, peak*math.Exp(-(u*u+v*v)/2))
			}
		}
	}
	// Straight strokes.
	for range count(2 + r.IntN(6)) {
		a := [2]float64{uniform(r, -8, Size+8), uniform(r, -8, Size+8)}
		b := [2]float64{uniform(r, -8, Size+8), uniform(r, -8, Size+8)}
		drawSegment(cv, a, b, uniform(r, 0.6, 2.5), randColor(r), uniform(r, 0.4, 1))
	}
	// Zigzag strokes.
	for range count(r.IntN(3)) {
		p := [2]float64{uniform(r, 0, Size), uniform(r, 0, Size)}
		c, w := randColor(r), uniform(r, 0.6, 1.8)
		for range 2 + r.IntN(4) {
			q := [2]float64{p[0] + uniform(r, -14, 14), p[1] + uniform(r, -14, 14)}
			drawSegment(cv, p, q, w, c, 1)
			p = q
		}
	}
	// Specks.
	for range count(r.IntN(25)) {
		x, y := r.IntN(Size), r.IntN(Size)
		cv.blend(x, y, randColor(r), uniform(r, 0.5, 1))
	}
}

// drawSegment draws an anti-aliased segment of width w from a to b with
// opacity op.
func drawSegment(cv *canvas, a, b [2]float64, w float64, c [3]float64, op float64) {
	x0 := int(math.Floor(min(a[0], b[0]) - w - 1))
	x1 := int(math.Ceil(max(a[0], b[0]) + w + 1))
	y0 := int(math.Floor(min(a[1], b[1]) - w - 1))
	y1 := int(math.Ceil(max(a[1], b[1]) + w + 1))
	ex, ey := b[0]-a[0], b[1]-a[1]
	l2 := ex*ex + ey*ey
	for y := max(y0, 0); y <= min(y1, cv.h-1); y++ {
		for x := max(x0, 0); x <= min(x1, cv.w-1); x++ {
			px, py := float64(x)+0.5-a[0], float64(y)+0.5-a[1]
			t := 0.0
			if l2 > 0 {
				t = min(max((px*ex+py*ey)/l2, 0), 1)
			}
			d := math.Hypot(px-t*ex, py-t*ey)
			cv.blend(x, y, c, op*min(max(w/2+0.5-d, 0), 1))
		}
	}
}

// drawShape draws shape class centred at (cx, cy) with circumradius rad,
// rotated by angle and stretched by aspect along its own x axis, with 4x4
// supersampling, and returns the box of the pixels it touched.
func drawShape(cv *canvas, class int, cx, cy, rad, angle, aspect float64, c [3]float64) image.Rectangle {
	inside := shapes[class]
	cos, sin := math.Cos(angle), math.Sin(angle)
	const ss = 4
	box := image.Rectangle{}
	ext := rad * max(aspect, 1)
	for y := max(int(cy-ext)-1, 0); y <= min(int(cy+ext)+1, cv.h-1); y++ {
		for x := max(int(cx-ext)-1, 0); x <= min(int(cx+ext)+1, cv.w-1); x++ {
			hit := 0
			for sy := range ss {
				for sx := range ss {
					px := float64(x) + (float64(sx)+0.5)/ss - cx
					py := float64(y) + (float64(sy)+0.5)/ss - cy
					// Into the shape's frame: rotate back, unstretch,
					// scale to the unit disc; v points up.
					u := (cos*px + sin*py) / rad / aspect
					v := -(-sin*px + cos*py) / rad
					if inside(u, v) {
						hit++
					}
				}
			}
			if hit == 0 {
				continue
			}
			cv.blend(x, y, c, float64(hit)/(ss*ss))
			box = box.Union(image.Rect(x, y, x+1, y+1))
		}
	}
	return box
}

// shapes are the inside tests of the classes in a frame where the shape
// fits the unit disc, v pointing up.
var shapes = []func(u, v float64) bool{
	func(u, v float64) bool { return u*u+v*v <= 1 },                             // circle
	func(u, v float64) bool { return math.Abs(u) <= 0.7 && math.Abs(v) <= 0.7 }, // square
	func(u, v float64) bool { return inPolygon(u, v, triangle) },                // triangle
	func(u, v float64) bool { // cross
		au, av := math.Abs(u), math.Abs(v)
		return (au <= 0.3 && av <= 0.95) || (av <= 0.3 && au <= 0.95)
	},
	func(u, v float64) bool { return inPolygon(u, v, star) }, // star
	func(u, v float64) bool { // ring
		d := u*u + v*v
		return d <= 1 && d >= 0.55*0.55
	},
	func(u, v float64) bool { return math.Abs(u)/0.6+math.Abs(v) <= 1 }, // diamond
	func(u, v float64) bool { // heart: (x²+y²-1)³ - x²y³ <= 0
		x, y := 1.15*u, 1.13*v+0.125
		q := x*x + y*y - 1
		return q*q*q-x*x*y*y*y <= 0
	},
}

// triangle and star are polygons inscribed in the unit circle.
var triangle, star = regular(3, 1), starPolygon(5, 1, 0.45)

// regular returns a regular polygon with n vertices, one at the top.
func regular(n int, r float64) [][2]float64 {
	p := make([][2]float64, n)
	for i := range p {
		a := math.Pi/2 + 2*math.Pi*float64(i)/float64(n)
		p[i] = [2]float64{r * math.Cos(a), r * math.Sin(a)}
	}
	return p
}

// starPolygon returns an n-pointed star: 2n vertices alternating between
// the outer and inner radius, a point at the top.
func starPolygon(n int, outer, inner float64) [][2]float64 {
	p := make([][2]float64, 2*n)
	for i := range p {
		a := math.Pi/2 + math.Pi*float64(i)/float64(n)
		r := outer
		if i%2 == 1 {
			r = inner
		}
		p[i] = [2]float64{r * math.Cos(a), r * math.Sin(a)}
	}
	return p
}

// inPolygon is the even-odd rule.
func inPolygon(u, v float64, p [][2]float64) bool {
	in := false
	for i, j := 0, len(p)-1; i < len(p); j, i = i, i+1 {
		a, b := p[i], p[j]
		if (a[1] > v) != (b[1] > v) && u < (b[0]-a[0])*(v-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}
