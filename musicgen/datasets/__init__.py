"""Dataset readers (MAESTRO, Groove, folders), TFRecord shard IO and Example encoding.

Import the submodules directly (``musicgen.datasets.readers``, ``.tfrecord``, ``.examples``); this
package imports nothing so that the conversion job never pays for TensorFlow unless it needs it.
"""
