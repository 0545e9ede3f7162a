"""What Intl may be given to read in one step no limit stops (ext/js/08_intl_guards.js).

Unguarded, V8's Intl read a locale list, a language tag or an option string in C++ without
looking at termination (V8 10.2, under a 50 ms CPU limit): a list of 2M tags took 3.4 s of
CPU in `Intl.getCanonicalLocales`, 1M 1.7 s in `new Intl.Collator`, 0.3 to 0.6 s in each
`toLocaleString`; a `timeZone` option of 96M characters 1.7 s and 600 MB outside the heap;
`DisplayNames.of` of a 90M-character calendar code more than two minutes; and
`Intl.getCanonicalLocales({ length: 2**32 - 1 })` took the host's memory, 24 GB, before the
kernel ended the process. A server's process guard ended the worker with every request in
flight. Real lists, tags and options are short, and behave as before.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from pyruntime import Isolate, JSError

LIST = "Array(1e6).fill('en')"
ATTACKS = [
    (f"Intl.getCanonicalLocales({LIST})", "Intl.getCanonicalLocales: a list of 1000000 locales"),
    (f"new Intl.Collator({LIST})", "Intl.Collator: a list of 1000000 locales"),
    (f"Intl.DateTimeFormat({LIST})", "Intl.DateTimeFormat: a list of 1000000 locales"),
    (f"Intl.NumberFormat.supportedLocalesOf({LIST})", "Intl.NumberFormat.supportedLocalesOf: a list"),
    (f"new Intl.Segmenter({LIST})", "Intl.Segmenter: a list"),
    (f"(1).toLocaleString({LIST})", "Number.prototype.toLocaleString: a list"),
    (f"(1n).toLocaleString({LIST})", "BigInt.prototype.toLocaleString: a list"),
    (f"new Date(0).toLocaleTimeString({LIST})", "Date.prototype.toLocaleTimeString: a list"),
    (f"'a'.localeCompare('b', {LIST})", "String.prototype.localeCompare: a list"),
    (f"'i'.toLocaleUpperCase({LIST})", "String.prototype.toLocaleUpperCase: a list"),
    (f"[1, 2].toLocaleString({LIST})", "Number.prototype.toLocaleString: a list"),  # each element's
    ("new Float64Array(4096).toLocaleString(Array(300).fill('en'))", "a list of 300 locales"),
    ("Intl.getCanonicalLocales(['en-' + 'abcdefgh-'.repeat(1e7) + 'a'])", "a language tag of 90000004 characters"),
    ("new Intl.Locale('en-' + 'abcdefgh-'.repeat(1e6) + 'a')", "Intl.Locale: a language tag of 9000004"),
    ("new Intl.Locale({ toString: () => 'en-' + 'a'.repeat(2e6) })", "Intl.Locale: a language tag of 2000003"),
    ("new Intl.DateTimeFormat('en', { timeZone: 'abcdefgh'.repeat(1.2e7) })",
     "Intl.DateTimeFormat: the option timeZone, a string of 96000000 characters"),
    ("new Intl.NumberFormat('en', { style: 'currency', currency: 'a'.repeat(1e8) })", "the option currency"),
    ("new Intl.Locale('en', { calendar: 'abcdefgh-'.repeat(1e7) })", "Intl.Locale: the option calendar"),
    ("new Date(0).toLocaleString('en', { timeZone: 'x'.repeat(1e8) })",
     "Date.prototype.toLocaleString: the option timeZone"),
    ("new Intl.DisplayNames('en', { type: 'calendar' }).of('abcdefgh-'.repeat(1e7) + 'a')",
     "Intl.DisplayNames.prototype.of: a code of 90000001 characters"),
]


@pytest.mark.parametrize(("attack", "named"), ATTACKS)
def test_a_list_tag_or_option_intl_would_read_for_seconds_is_refused_first(attack, named):
    with Isolate() as isolate:
        started = time.thread_time()
        with pytest.raises(JSError) as raised:
            isolate.eval(attack)
        assert raised.value.name == "RangeError"
        assert named in raised.value.message and "(Intl reads it in one step no limit can stop)" in raised.value.message
        # A bound on CPU (a busy machine does not stretch it): unguarded, 0.3 s to minutes.
        assert time.thread_time() - started < 0.4
        assert isolate.eval("new Intl.NumberFormat('de').format(1234.5)") == "1.234,5"


def test_a_list_that_claims_four_billion_entries_is_refused_before_the_host_grows():
    # In a child process that ends itself past 1 GB of RSS: unguarded, this took 24 GB.
    child = textwrap.dedent("""
        import os, threading, time
        from pyruntime import Isolate, JSError

        def watch():
            while True:
                with open("/proc/self/statm") as statm:
                    if int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") > 1 << 30:
                        os._exit(3)
                time.sleep(0.01)

        threading.Thread(target=watch, daemon=True).start()
        with Isolate() as isolate:
            try:
                isolate.eval("Intl.getCanonicalLocales({ length: 2 ** 32 - 1 })")
            except JSError as error:
                print(error.name, error.message)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("RangeError Intl.getCanonicalLocales: a list of 4294967295 locales; at most 256")


def test_what_real_apps_ask_of_intl_answers_as_before():
    with Isolate() as isolate:
        assert isolate.eval(r"""[
          new Intl.NumberFormat('de-DE', { style: 'currency', currency: 'EUR' }).format(1234.5),
          Intl.NumberFormat('en').format(1e6),
          new Intl.DateTimeFormat(['fr-FR', 'en'], { timeZone: 'UTC', dateStyle: 'long' }).format(new Date(0)),
          Intl.getCanonicalLocales(['EN-us', 'en-US', new Intl.Locale('de')]).join(),
          (1234.5).toLocaleString('de'), (12n).toLocaleString('en-IN'), 'a'.localeCompare('b', 'de'),
          'i'.toLocaleUpperCase('tr'), new Date(0).toLocaleDateString('en-US', { timeZone: 'UTC' }),
          new Intl.DisplayNames('en', { type: 'region' }).of('DE'),
          new Intl.Locale('en', { region: 'GB' }).toString(),
          [1234.5, 2].toLocaleString('de'), new Float64Array([1.5]).toLocaleString('de'),
          new Intl.ListFormat('en').format(['a', 'b', 'c']),
          new Intl.PluralRules('en').select(1), new Intl.RelativeTimeFormat('en').format(-1, 'day'),
          [...new Intl.Segmenter('en', { granularity: 'word' }).segment('hi there')].length,
          Intl.getCanonicalLocales(Array(256).fill('en')).join(),
        ]""") == ["1.234,50\xa0€", "1,000,000", "1 janvier 1970", "en-US,de", "1.234,5", "12", -1, "İ", "1/1/1970",
                  "Germany", "en-GB", "1.234,5,2", "1,5", "a, b, and c", "one", "1 day ago", 3, "en"]


def test_the_constructors_keep_their_identity_and_shape():
    with Isolate() as isolate:
        assert isolate.eval("""
            const names = ['Collator', 'DateTimeFormat', 'DisplayNames', 'ListFormat', 'NumberFormat',
                           'PluralRules', 'RelativeTimeFormat', 'Segmenter', 'Locale'];
            class Money extends Intl.NumberFormat {
              constructor() { super('en', { style: 'currency', currency: 'USD' }); }
            }
            [
              names.every((name) => Intl[name].prototype.constructor === Intl[name] && Intl[name].name === name),
              names.every((name) => !Object.getOwnPropertyDescriptor(Intl, name).enumerable),
              new Intl.Collator('en') instanceof Intl.Collator,
              new Money().format(2), new Money() instanceof Money, new Money() instanceof Intl.NumberFormat,
              Intl.DateTimeFormat('en') instanceof Intl.DateTimeFormat,
              Number.prototype.toLocaleString.length, String.prototype.localeCompare.length,
              Intl.getCanonicalLocales.length, Intl.Collator.supportedLocalesOf.length,
              Object.keys(Number.prototype).length,
            ]""") == [True, True, True, "$2.00", True, True, True, 0, 1, 1, 1, 0]


def test_a_list_is_read_once_in_order_as_the_builtin_reads_it():
    with Isolate() as isolate:
        assert isolate.eval("""
            const read = [];
            const tag = { toString() { read.push('toString'); return 'de'; } };
            const list = { get length() { read.push('length'); return 4; },
                           get 0() { read.push(0); return tag; }, get 2() { read.push(2); return 'EN-us'; } };
            const canonical = Intl.getCanonicalLocales(list);
            [canonical.join(), read.join()]""") == ["de,en-US", "length,0,toString,2"]


@pytest.mark.parametrize(("source", "error"), [
    # 1,024 characters go to V8, whose own answer is that no such time zone or tag exists.
    ("new Intl.DateTimeFormat('en', { timeZone: 'x'.repeat(1024) })", "Invalid time zone"),
    ("new Intl.DateTimeFormat('en', { timeZone: 'x'.repeat(1025) })", "at most 1024"),
    ("new Intl.Collator('x'.repeat(1024))", "Incorrect locale information provided|Invalid language tag"),
    ("new Intl.Collator(Array(257).fill('en'))", "a list of 257 locales; at most 256"),
])
def test_a_tag_or_option_at_the_bound_reaches_intl(source, error):
    with Isolate() as isolate:
        with pytest.raises(JSError, match=error):
            isolate.eval(source)
        assert isolate.eval("new Intl.Collator(Array(256).fill('de')).resolvedOptions().locale") == "de"
