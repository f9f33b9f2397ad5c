package policy

// Plain makes p file every setting on its own, never a coordinator plan
// as a block, and resolve every conflict afresh, never as the last one:
// the pipeline without its memos, for tests that compare the two.
func Plain(p *Pipeline) { p.board.plain = true }
