"""Rich tables of a :class:`~mmbnn.analysis.summary.ModelSummary`: one row per layer, then the
totals (larq's summary layout)."""
from typing import Optional, Tuple

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from .summary import BITS_PER_KB, BOPS_PER_OP, ModelSummary

__all__ = ['summary_tables', 'format_summary']


def _int(n: int) -> str:
    return f'{n:,}'


def _sci(x: float) -> str:
    """``1.63e8``: three significant digits, the way the papers quote OPs."""
    if not x:
        return '0'
    mantissa, exponent = f'{x:.2e}'.split('e')
    return f'{mantissa}e{int(exponent)}'


def _size(kb: float) -> str:
    return f'{kb / 1024:.2f} MB' if kb >= 1024 else f'{kb:.2f} kB'


def summary_tables(summary: ModelSummary) -> Tuple[Table, Table]:
    """The per-layer table and the totals table."""
    bit_widths = sorted(summary.params_by_bits) or [32]
    layers = Table(title=f'{summary.model}, input {tuple(summary.input_shape)}',
                   box=box.SIMPLE_HEAD, title_justify='left')
    layers.add_column('Layer')
    layers.add_column('Type')
    layers.add_column('Bits in/w', justify='center')
    layers.add_column('Output')
    for bits in bit_widths:
        layers.add_column(f'{bits}-bit params', justify='right')
    layers.add_column('Memory kB', justify='right')
    layers.add_column('BOPs', justify='right')
    layers.add_column('FLOPs', justify='right')
    sparse = summary.active_fraction is not None
    if sparse:
        layers.add_column('Active %', justify='right')
        layers.add_column('Sparse kB', justify='right')
        layers.add_column('Sparse BOPs', justify='right')
    for row in summary.rows:
        shape = 'x'.join(map(str, row.output_shape[1:])) if row.output_shape else '-'
        if row.calls > 1:  # a shared module (FPN heads): MACs of all calls, shape of the first
            shape += f' ({row.calls} calls)'
        extra = []
        if sparse:
            extra = ['-', '-', '-'] if row.sparsity is None else [
                f'{100 * row.active_fraction:.1f}',
                f'{row.sparse_memory_bits / BITS_PER_KB:.2f}', _int(round(row.sparse_bops))]
        layers.add_row(
            row.name, row.type, f'{row.input_bits}/{row.weight_bits}', shape,
            *(_int(row.params.get(b, 0)) for b in bit_widths),
            f'{row.memory_kb:.2f}', _int(row.bops), _int(row.flops), *extra)

    by_bits = ', '.join(f'{b}-bit {_int(n)}' for b, n in summary.params_by_bits.items())
    totals = Table(title='Totals (per image; MACs of convs, linears and matmuls)',
                   box=box.SIMPLE_HEAD, show_header=False, title_justify='left')
    totals.add_column('Quantity')
    totals.add_column('Value', justify='right')
    totals.add_column('Detail')
    totals.add_row('Parameters', _int(summary.params), by_bits)
    totals.add_row('Model size', _size(summary.size_kb), 'each parameter at its bit width')
    totals.add_row('Float-32 equivalent', _size(summary.fp32_size_kb), 'every parameter 32-bit')
    totals.add_row('Compression ratio', f'{summary.compression_ratio:.2f}x', '')
    totals.add_row('BOPs', _sci(summary.bops), '1-bit x 1-bit MACs')
    totals.add_row('FLOPs', _sci(summary.flops), 'all other MACs')
    totals.add_row('OPs', _sci(summary.ops), f'BOPs / {BOPS_PER_OP} + FLOPs')
    totals.add_row('Binary MACs', f'{100 * summary.binary_mac_share:.2f} %',
                   ', '.join(f'{k}: {_sci(v)}' for k, v in summary.macs_by_precision.items()))
    if summary.base_agreement is not None:
        totals.add_row('Base agreement', f'{100 * summary.base_agreement:.2f} %',
                       'weight signs equal in two bases of a K-base layer (100: identical)')
    if sparse:
        totals.add_row('Active binary weights', f'{100 * summary.active_fraction:.2f} %',
                       'of the weights of sparse layers')
        totals.add_row('Sparse model size', _size(summary.sparse_size_kb),
                       'only active connections stored')
        totals.add_row('Sparse BOPs', _sci(summary.sparse_bops),
                       'only active connections computed')
        totals.add_row('Sparse OPs', _sci(summary.sparse_ops),
                       f'sparse BOPs / {BOPS_PER_OP} + sparse FLOPs')
    return layers, totals


def format_summary(summary: ModelSummary, width: Optional[int] = None) -> str:
    """Both tables as plain text (no colour), ``width`` columns wide (default: as wide as the
    widest table needs, so that no cell wraps)."""
    tables = summary_tables(summary)
    if width is None:
        wide = Console(width=1000)
        width = max(Measurement.get(wide, wide.options, t).maximum for t in tables)
    console = Console(width=width, color_system=None, force_terminal=False)
    with console.capture() as capture:
        for table in tables:
            console.print(table)
    return '\n'.join(line.rstrip() for line in capture.get().splitlines()) + '\n'
