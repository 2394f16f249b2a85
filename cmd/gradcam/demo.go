package main

import "errors"

// demoCmd is a placeholder until the demo command is written.
type demoCmd struct{}

// Run reports that the command is not built yet.
func (c *demoCmd) Run(g *globals) error { return errors.New("demo: not built yet") }
