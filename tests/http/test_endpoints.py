import pytest

from aiovertexchat._http.endpoints import resolve_target, vertex_base_url
from aiovertexchat.errors import ConfigurationError


def resolve(environ: dict[str, str] | None = None, **kwargs: object) -> str:
    settings: dict[str, object] = {
        "project": None, "location": None, "endpoint": "openapi", "api_version": "v1",
        "base_url": None,
    }
    settings.update(kwargs)
    return resolve_target(environ=environ or {}, **settings).chat_completions_url  # type: ignore[arg-type]


def test_regional_managed() -> None:
    assert resolve(project="my-project", location="us-central1") == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/us-central1"
        "/endpoints/openapi/chat/completions"
    )


def test_global_host_has_no_location_prefix() -> None:
    assert resolve(project="my-project", location="global", api_version="v1beta1") == (
        "https://aiplatform.googleapis.com/v1beta1/projects/my-project/locations/global"
        "/endpoints/openapi/chat/completions"
    )


def test_self_deployed_endpoint() -> None:
    assert resolve(project="my-project", location="europe-west4", endpoint="1234567") == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-project/locations/europe-west4"
        "/endpoints/1234567/chat/completions"
    )


def test_dedicated_endpoint_host() -> None:
    url = resolve(
        project="my-project", location="us-central1", endpoint="42",
        dedicated_domain="42.us-central1-987.prediction.vertexai.goog",
    )
    assert url == (
        "https://42.us-central1-987.prediction.vertexai.goog/v1/projects/my-project/locations/"
        "us-central1/endpoints/42/chat/completions"
    )


def test_dedicated_needs_numeric_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="numeric endpoint id"):
        vertex_base_url(project="my-project", location="us-central1", dedicated_domain="x.goog")


def test_base_url_wins_and_is_normalised() -> None:
    assert resolve(base_url="http://127.0.0.1:9/v1/", project="my-project") == (
        "http://127.0.0.1:9/v1/chat/completions"
    )
    assert resolve(base_url="http://h/v1/chat/completions") == "http://h/v1/chat/completions"


def test_environment_fallbacks() -> None:
    env = {"GOOGLE_CLOUD_PROJECT": "env-project", "GOOGLE_CLOUD_LOCATION": "asia-east1"}
    assert "/projects/env-project/locations/asia-east1/" in resolve(env)
    env["OPENAI_BASE_URL"] = "http://localhost:8000/v1"
    assert resolve(env) == "http://localhost:8000/v1/chat/completions"
    # Explicit Vertex arguments beat OPENAI_BASE_URL from the environment.
    assert "/projects/arg-project/" in resolve(env, project="arg-project")


def test_openai_env_target_is_marked() -> None:
    target = resolve_target(
        project=None, location=None, endpoint="openapi", api_version="v1", base_url=None,
        environ={"OPENAI_BASE_URL": "https://us-central1-aiplatform.googleapis.com/v1beta1/"
                 "projects/p/locations/us-central1/endpoints/openapi"},
    )
    assert target.from_openai_env and target.is_vertex


@pytest.mark.parametrize(
    ("kwargs", "env", "needle"),
    [
        ({}, {}, "GOOGLE_CLOUD_PROJECT"),
        ({"project": "my-project"}, {}, "GOOGLE_CLOUD_LOCATION"),
        ({"project": "my-project", "location": "us-central1", "api_version": "v2"}, {},
         "api_version"),
        ({"project": "my-project", "location": "US Central"}, {}, "location"),
        ({"project": "my-project", "location": "us-central1", "endpoint": "my-ep"}, {},
         "ENDPOINT_ID"),
        ({"base_url": "localhost:8080"}, {}, "absolute http"),
    ],
)
def test_configuration_errors_name_the_fix(
    kwargs: dict[str, str], env: dict[str, str], needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        resolve(env, **kwargs)
