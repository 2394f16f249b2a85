package engine

// SetFusion turns the fusion of convolution chains on or off, so that
// tests can compare fused runs with node-by-node ones.
func SetFusion(m *Model, on bool) { m.noFuse = !on }
