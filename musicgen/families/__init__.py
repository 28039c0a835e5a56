"""Model families: the interface each implements (`base.Family`) and the two families.

`vae.VAE` (MusicVAE / GrooVAE) and `token_lm.TOKEN_LM` (token language models). A config names
its family (`musicgen.config.Config.family`); train / generate / evaluate / make_examples only
talk to that interface.
"""
from musicgen.families.base import BatchFormat, Family, GenerateMode  # noqa: F401
