"""moto's server (the pinned moto[server]) for the load runs, with one fix for long streams.

moto 5.2.5's `Shard.get_max_sequence_number` copies every key of the shard's record dict into
a list to read the last one, and `put_record` calls it for each record, so putting N records
onto a shard costs O(N^2): 60,000 records took 15 s for their last 10,000 against 1.9 s for
their first (measured in-process, 4 shards). Both methods are replaced here by the O(1)
equivalent (first and last key of the same insertion-ordered dict); nothing else is changed,
and the tests use the stock server. `bench/load.py --stock-moto` runs without this.

    .venv/bin/python bench/moto_server.py -H 127.0.0.1 -p 5000
"""

import sys

from moto.kinesis import models


def first_sequence_number(shard):
    return next(iter(shard.records), 0)


def last_sequence_number(shard):
    return next(reversed(shard.records), 0)


models.Shard.get_min_sequence_number = first_sequence_number
models.Shard.get_max_sequence_number = last_sequence_number

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
