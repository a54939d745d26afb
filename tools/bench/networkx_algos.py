"""networkx algorithms on a generated graph: BFS, shortest paths, components.

Builds (untimed) a random graph of 40,000 nodes and 200,000 weighted edges
(seeded, so every run has the same one).  The timed part runs breadth-first
searches, unweighted and Dijkstra single-source shortest path lengths from a
few fixed sources, one point-to-point shortest path, connected components and
core numbers: dict-of-dict traversal, with many short-lived dicts and lists.
"""
import os
import random
import sys

import networkx as nx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main():
    args = harness.parser(__doc__).parse_args()
    mtp = harness.import_mtp(args)
    nodes = 40000
    g = nx.gnm_random_graph(nodes, 200000, seed=7)
    rnd = random.Random(7)
    for u, v in g.edges():
        g[u][v]["w"] = rnd.randint(1, 20)
    sources = max(1, int(3 * args.scale))

    def work():
        reached = 0
        for s in range(sources):
            src = (s * 9973) % nodes
            reached += sum(1 for _ in nx.bfs_edges(g, src))
            reached += len(nx.single_source_shortest_path_length(g, src))
            reached += len(nx.single_source_dijkstra_path_length(g, src, weight="w"))
        path = nx.shortest_path(g, 1, nodes - 1, weight="w")
        comps = nx.number_connected_components(g)
        core = max(nx.core_number(g).values())
        return {"sources": sources, "reached": reached, "path_len": len(path),
                "components": comps, "max_core": core}

    harness.run("networkx", work, args, mtp)


if __name__ == "__main__":
    main()
