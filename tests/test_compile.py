"""The harness's fixed-step solver loop compiles to one graph (``fullgraph=True`` fails on any
graph break), unlike torchdiffeq's solvers (docs/protocol.md §5)."""

import shutil

import pytest
import torch
from cunet_bench.models.cunet import ConvODEFunction
from cunet_bench.models.ode import ODEBlock, SecondOrderField
from cunet_bench.models.solver import SolverConfig

pytestmark = pytest.mark.skipif(
    shutil.which("gcc") is None and shutil.which("cc") is None, reason="torch.compile on CPU needs a C compiler"
)


@pytest.mark.slow
@pytest.mark.parametrize("second_order", [False, True])
def test_ode_block_compiles_without_graph_breaks(second_order):
    torch._dynamo.reset()
    function = ConvODEFunction(8, 4 if second_order else 8, time_dim=16)
    field = SecondOrderField(function) if second_order else function
    block = ODEBlock(field, SolverConfig("rk4", steps=2), name="enc1").eval()
    z, embedding = torch.randn(2, 8, 8, 8), torch.randn(2, 16)
    compiled = torch.compile(block, fullgraph=True)
    with torch.no_grad():
        expected = block(z, embedding)
        torch.testing.assert_close(compiled(z, embedding), expected, rtol=1e-4, atol=1e-4)
    assert block.nfe == 8
