package node

// modelKinds lists the models a node runs, in the order they run.
func modelKinds() []modelKind {
	return nil
}
