"""Linear: parameters and constants flow through three steps, one after another."""

from runner import component, pipeline


@component
def fetch(url: str, limit: int = 100) -> str:
    return f"{url}?limit={limit}"


@component(packages=["requests>=2"])
def clean(text: str, lowercase: bool = True) -> str:
    return text.lower() if lowercase else text


@component
def count_words(text: str, min_length: int = 1) -> int:
    return len([w for w in text.split() if len(w) >= min_length])


@pipeline(name="linear")
def linear(url: str = "https://example.com/data", min_length: int = 3) -> None:
    """Fetch, clean and count."""
    raw = fetch(url=url)
    cleaned = clean(text=raw.output, lowercase=False).set_caching(False)
    count_words(text=cleaned.output, min_length=min_length).set_timeout("1h30m")
