package main

import "errors"

// benchCmd is a placeholder until the bench command is written.
type benchCmd struct{}

// Run reports that the command is not built yet.
func (c *benchCmd) Run(g *globals) error { return errors.New("bench: not built yet") }
