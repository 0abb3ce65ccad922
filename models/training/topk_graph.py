"""Write the exact-scoring graph: scores = query · matrixᵀ, then the k best per query.

    /usr/bin/python3 models/training/topk_graph.py --out models/scoring/topk.onnx

Built with onnx's helper API (no torch), at the bundles' opset, so the server scores a whole
catalog with the same runtime (and the same execution providers, CUDA included) as its
encoders. Every axis is dynamic: batch B, items N, dimension D, and k, which TopK takes as a
1-element int64 tensor. The output is byte-for-byte reproducible (test/model/topk-graph.test.ts).

Inputs:  query [B, D] float32, matrix [N, D] float32, k [1] int64 (1 <= k <= N)
Outputs: scores [B, k] float32, indices [B, k] int64 (rows of matrix, best first)
"""
import argparse

import onnx
from onnx import TensorProto, helper

OPSET = 14  # the opset of the shipped bundles (export.py)


def build():
    query = helper.make_tensor_value_info("query", TensorProto.FLOAT, ["batch", "dim"])
    matrix = helper.make_tensor_value_info("matrix", TensorProto.FLOAT, ["items", "dim"])
    k = helper.make_tensor_value_info("k", TensorProto.INT64, [1])
    scores = helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", "k"])
    indices = helper.make_tensor_value_info("indices", TensorProto.INT64, ["batch", "k"])
    nodes = [
        # onnxruntime folds this Transpose into its MatMul (transB), so the [N, D] matrix is
        # read in place, never transposed into a copy.
        helper.make_node("Transpose", ["matrix"], ["matrix_t"], perm=[1, 0], name="transpose"),
        helper.make_node("MatMul", ["query", "matrix_t"], ["all_scores"], name="scores"),
        helper.make_node("TopK", ["all_scores", "k"], ["scores", "indices"], axis=-1, largest=1, sorted=1, name="topk"),
    ]
    graph = helper.make_graph(nodes, "newsrec_exact_topk", [query, matrix, k], [scores, indices])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="newsrec topk_graph.py")
    model.ir_version = 8  # the IR version of opset 14's release, so older runtimes load it too
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="where to write the .onnx file")
    args = ap.parse_args()
    onnx.save(build(), args.out)


if __name__ == "__main__":
    main()
