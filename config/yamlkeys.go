package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// walkKeys visits every dotted key of a YAML tree in file order, parents
// before their children: a mapping entry with its key node and value
// node, a sequence item (named key[i]) with a nil key node and the item.
func walkKeys(root *yaml.Node, visit func(key string, k, v *yaml.Node)) {
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, prefix)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				key := k.Value
				if prefix != "" {
					key = prefix + "." + k.Value
				}
				visit(key, k, v)
				walk(v, key)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				key := fmt.Sprintf("%s[%d]", prefix, i)
				visit(key, nil, c)
				walk(c, key)
			}
		}
	}
	walk(root, "")
}
