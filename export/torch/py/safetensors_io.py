"""safetensors read/write without the `safetensors` package, byte-compatible with distillery's runtime/safetensors.ts:
an 8-byte little-endian header length, a JSON header (`__metadata__` first, then the tensors in sorted order, padded
with spaces to a multiple of 8 bytes), then the raw little-endian data.

Writes float tensors as F32 (distillery's only dtype) and int32/int64 tensors as I32/I64; reads F32 (as float32),
I32 and I64 (as int32 / int64). All tensors come back on the CPU.
"""
import json
import os
import sys
import tempfile

import torch

__all__ = ['save_file', 'load_file', 'load_metadata']

_DTYPES = {'F32': torch.float32, 'I32': torch.int32, 'I64': torch.int64}
_NAMES = {v: k for k, v in _DTYPES.items()}

if sys.byteorder != 'little':  # tensors are copied to and from the file's bytes as they lie in memory
    raise ImportError('safetensors_io needs a little-endian host')


def _stored(t):
    """the tensor as it is written: contiguous, on the CPU, float → float32"""
    t = t.detach().cpu()
    if t.is_floating_point():
        t = t.to(torch.float32)
    if t.dtype not in _NAMES:
        raise TypeError(f'cannot write dtype {t.dtype} (F32, I32 and I64 only)')
    return t.contiguous()


def _encode(tensors, metadata):
    names = sorted(tensors)
    stored = {k: _stored(tensors[k]) for k in names}
    header = {'__metadata__': dict(metadata or {})}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in header['__metadata__'].items()):
        raise TypeError('safetensors metadata maps str to str')
    offset = 0
    for k in names:
        t = stored[k]
        n = t.numel() * t.element_size()
        header[k] = {'dtype': _NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + n]}
        offset += n
    # JSON.stringify's form: no spaces, non-ASCII as UTF-8
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    out = bytearray(8 + len(text) + offset)
    out[:8] = len(text).to_bytes(8, 'little')
    out[8:8 + len(text)] = text
    base = 8 + len(text)
    for k in names:
        t = stored[k]
        if t.numel():  # a view of the output bytes, filled in place
            torch.frombuffer(out, dtype=t.dtype, count=t.numel(), offset=base + header[k]['data_offsets'][0]).copy_(t.reshape(-1))
    return out


def save_file(tensors, path, metadata=None):
    """write `tensors` (name → tensor) to `path` atomically: a temporary file in the same folder, then os.replace"""
    data = _encode(tensors, metadata)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _read_header(f, path, size):
    head = f.read(8)
    if len(head) < 8:
        raise ValueError(f'{path}: file is shorter than its 8-byte header length')
    n = int.from_bytes(head, 'little')
    if 8 + n > size:
        raise ValueError(f'{path}: header length {n} runs past the end of the file ({size} bytes)')
    try:
        return json.loads(f.read(n).decode('utf-8')), 8 + n
    except ValueError:
        raise ValueError(f'{path}: header is not JSON') from None


def load_metadata(path):
    """the header's `__metadata__` (str → str; {} when absent), without reading the data"""
    with open(path, 'rb') as f:
        header, _ = _read_header(f, path, os.fstat(f.fileno()).st_size)
    return header.get('__metadata__') or {}


def load_file(path):
    """name → tensor (CPU; F32 as float32, I32/I64 as int32/int64)"""
    with open(path, 'rb') as f:
        size = os.fstat(f.fileno()).st_size
        header, base = _read_header(f, path, size)
        data = bytearray(size - base)  # writable, so torch.frombuffer views it without a warning
        f.readinto(data)
    out = {}
    for k, e in header.items():
        if k == '__metadata__':
            continue
        dtype = _DTYPES.get(e['dtype'])
        if dtype is None:
            raise ValueError(f"{path}: tensor '{k}' has dtype {e['dtype']}; only {', '.join(_DTYPES)} are supported")
        shape = [int(d) for d in e['shape']]
        numel = 1
        for d in shape:
            numel *= d
        s, t = e['data_offsets']
        itemsize = torch.empty((), dtype=dtype).element_size()
        if t - s != numel * itemsize or s < 0 or t > len(data):
            raise ValueError(f"{path}: tensor '{k}' {shape} does not fit its data offsets {s}..{t}")
        flat = torch.frombuffer(data, dtype=dtype, count=numel, offset=s).clone() if numel else torch.empty(0, dtype=dtype)
        out[k] = flat.reshape(shape)
    return out
