using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Polly;
using Polly.Registry;

namespace BuildFarm.Registry.Tests;

public sealed class ParsingTests
{
    [Theory]
    [InlineData("Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:team/app:pull,push\"",
        "Bearer", "https://auth.example.com/token", "registry.example.com", "repository:team/app:pull,push")]
    [InlineData("Basic realm=\"buildfarm-test\"", "Basic", "buildfarm-test", null, null)]
    [InlineData("bearer Realm=\"https://a/t\", Service=svc", "bearer", "https://a/t", "svc", null)]
    [InlineData("Bearer realm=\"https://a/t\",scope=\"repository:x:pull\\\"y\"", "Bearer", "https://a/t", null, "repository:x:pull\"y")]
    public void Challenges_are_parsed(string header, string scheme, string? realm, string? service, string? scope)
    {
        Assert.True(AuthChallenge.TryParse(header, out var challenge, out var error), error);
        Assert.Equal(scheme, challenge.Scheme);
        Assert.Equal(realm, challenge.Realm);
        Assert.Equal(service, challenge.Service);
        Assert.Equal(scope, challenge.Scope);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bearer realm=\"unterminated")]
    [InlineData("Bearer =x")]
    [InlineData("\"quoted\" realm=x")]
    public void Bad_challenges_are_refused_with_a_reason(string header)
    {
        Assert.False(AuthChallenge.TryParse(header, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void A_huge_challenge_is_refused_unread() =>
        Assert.False(AuthChallenge.TryParse("Bearer realm=\"" + new string('a', AuthChallenge.MaxLength) + "\"", out _, out _));

    [Fact]
    public void Docker_config_reads_auth_username_password_and_identity_token_by_normalised_host()
    {
        var json = """
            {"auths":{
              "https://index.docker.io/v1/":{"auth":"ZHVzZXI6ZHBhc3M="},
              "Registry.Example.com":{"username":"u","password":"p:with:colons"},
              "https://gcr.example/v1/":{"identitytoken":"refresh"},
              "empty.example":{}
            },"credsStore":"desktop"}
            """;
        Assert.True(DockerConfig.TryParse(Encoding.UTF8.GetBytes(json), out var config, out var error), error);
        Assert.Equal(new RegistryCredential("duser", "dpass"), config.Find("docker.io"));
        Assert.Equal(new RegistryCredential("u", "p:with:colons"), config.Find("registry.example.com"));
        Assert.Equal("refresh", config.Find("gcr.example")!.IdentityToken);
        Assert.Null(config.Find("empty.example"));
        Assert.Null(config.Find("other.example"));
        Assert.DoesNotContain("dpass", config.Find("docker.io")!.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]", "JSON object")]
    [InlineData("{\"auths\":[]}", "'auths' must be an object")]
    [InlineData("{\"auths\":{\"r\":{\"auth\":\"%%%\"}}}", "not base64")]
    [InlineData("{\"auths\":{\"r\":{\"auth\":\"bm9jb2xvbg==\"}}}", "user:password")]
    [InlineData("{", "not valid JSON")]
    public void Bad_docker_configs_are_refused_naming_the_problem(string json, string expected)
    {
        Assert.False(DockerConfig.TryParse(Encoding.UTF8.GetBytes(json), out _, out var error));
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_docker_config_over_the_limit_is_refused()
    {
        var big = new byte[DockerConfig.MaxBytes + 1];
        Assert.False(DockerConfig.TryParse(big, out _, out var error));
        Assert.Contains("over the limit", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_docker_config_file_is_anonymous() =>
        Assert.Empty(DockerConfig.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "config.json")).Hosts);

    [Theory]
    [InlineData("app", "docker.io", "library/app", null, null)]
    [InlineData("team/app:1.2", "docker.io", "team/app", "1.2", null)]
    [InlineData("localhost:5000/a/b:c", "localhost:5000", "a/b", "c", null)]
    [InlineData("127.0.0.1:15000/x", "127.0.0.1:15000", "x", null, null)]
    [InlineData("index.docker.io/library/app:latest", "docker.io", "library/app", "latest", null)]
    [InlineData("reg.example.com/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "reg.example.com", "app", null,
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void References_are_split_as_docker_reads_them(string text, string registry, string repository, string? tag, string? digest)
    {
        Assert.True(RegistryReference.TryParse(text, out var reference, out var error), error);
        Assert.Equal(new RegistryReference(registry, repository, tag, digest), reference);
    }

    [Theory]
    [InlineData("Reg.example.com/App:1")]
    [InlineData("reg.example.com/app:-bad")]
    [InlineData("reg.example.com/app@sha256:short")]
    [InlineData("reg.example.com/")]
    [InlineData("")]
    public void Bad_references_are_refused(string text) => Assert.False(RegistryReference.TryParse(text, out _, out _));

    [Fact]
    public void A_reference_over_the_limit_is_refused() =>
        Assert.False(RegistryReference.TryParse("r.example/" + new string('a', RegistryReference.MaxLength), out _, out _));

    [Theory]
    [InlineData("linux/amd64", "linux", "amd64", null)]
    [InlineData("linux/arm64/v8", "linux", "arm64", "v8")]
    [InlineData("windows/amd64", "windows", "amd64", null)]
    public void Platforms_parse(string text, string os, string arch, string? variant)
    {
        var platform = OciPlatform.Parse(text);
        Assert.Equal(new OciPlatform(os, arch, variant), platform);
        Assert.Equal(text, platform.ToString());
    }

    [Theory]
    [InlineData("linux")]
    [InlineData("Linux/amd64")]
    [InlineData("linux/amd64/v8/x")]
    [InlineData("linux//amd64")]
    [InlineData("linux/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    public void Bad_platforms_are_refused(string text) => Assert.False(OciPlatform.TryParse(text, out _, out _));

    [Fact]
    public void Options_are_validated_naming_each_key()
    {
        var options = new RegistryClientOptions { MaxManifestBytes = 0, MaxRetries = 11, RetryBaseDelay = TimeSpan.Zero, ResetPhase = " " };
        options.Endpoints["r"] = new Uri("ftp://x/");
        var errors = options.Validate();
        Assert.Contains(errors, e => e.StartsWith("Registry:Endpoints:r", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Registry:MaxManifestBytes", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Registry:MaxRetries", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Registry:RetryBaseDelay", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Registry:ResetPhase", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => new RegistryClient(options));
        Assert.Empty(new RegistryClientOptions().Validate());
    }

    [Fact]
    public void Endpoints_default_to_https_and_follow_the_map()
    {
        var options = new RegistryClientOptions();
        options.PlainHttpRegistries.Add("insecure.example:5000");
        options.Endpoints["mapped.example"] = new Uri("http://127.0.0.1:1234/");
        using var client = new RegistryClient(options);
        Assert.Equal(new Uri("https://reg.example.com/"), client.EndpointOf("reg.example.com"));
        Assert.Equal(new Uri("http://insecure.example:5000/"), client.EndpointOf("insecure.example:5000"));
        Assert.Equal(new Uri("http://127.0.0.1:1234/"), client.EndpointOf("mapped.example"));
        Assert.Equal(new Uri("https://registry-1.docker.io/"), client.EndpointOf("docker.io"));
    }

    [Fact]
    public void Resets_are_recognised_through_wrapping_exceptions()
    {
        var reset = new HttpRequestException("send failed", new IOException("io", new SocketException((int)SocketError.ConnectionReset)));
        Assert.True(RegistryClient.IsConnectionReset(reset));
        Assert.False(RegistryClient.IsConnectionReset(new HttpRequestException("refused", new SocketException((int)SocketError.ConnectionRefused))));
        Assert.False(RegistryClient.IsConnectionReset(null));
    }

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.RequestTimeout, true)]
    [InlineData(HttpStatusCode.Unauthorized, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.BadRequest, false)]
    public void Statuses_worth_a_retry(HttpStatusCode status, bool retry)
    {
        using var response = new HttpResponseMessage(status);
        Assert.Equal(retry, RegistryResilience.ShouldRetry(Outcome.FromResult(response), CancellationToken.None));
    }

    [Fact]
    public void Retry_after_is_honoured_and_capped()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(3));
        Assert.Equal(TimeSpan.FromSeconds(3), RegistryResilience.RetryAfter(response));
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromHours(1));
        Assert.Equal(TimeSpan.FromSeconds(30), RegistryResilience.RetryAfter(response));
        Assert.Null(RegistryResilience.RetryAfter(null));
    }

    [Fact]
    public void Exceptions_are_retried_unless_the_caller_cancelled()
    {
        Assert.True(RegistryResilience.ShouldRetry(Outcome.FromException<HttpResponseMessage>(new HttpRequestException()), CancellationToken.None));
        Assert.True(RegistryResilience.ShouldRetry(Outcome.FromException<HttpResponseMessage>(new TaskCanceledException()), CancellationToken.None));
        Assert.False(RegistryResilience.ShouldRetry(Outcome.FromException<HttpResponseMessage>(new TaskCanceledException()), new CancellationToken(canceled: true)));
        Assert.False(RegistryResilience.ShouldRetry(Outcome.FromException<HttpResponseMessage>(new RegistryException("too big")), CancellationToken.None));
    }

    [Fact]
    public void The_client_and_its_named_pipeline_are_registered()
    {
        var observer = new RecordingResets();
        var services = new ServiceCollection();
        services.AddSingleton<IRegistryResetObserver>(observer);
        services.AddBuildFarmRegistryClient(o => o.MaxRetries = 2);
        using var provider = services.BuildServiceProvider();
        var pipelines = provider.GetRequiredService<ResiliencePipelineProvider<string>>();
        Assert.NotNull(pipelines.GetPipeline<HttpResponseMessage>(RegistryResilience.PipelineName));
        Assert.Same(provider.GetRequiredService<RegistryClient>(), provider.GetRequiredService<RegistryClient>());
    }
}
