using System.Text.Json;

namespace BuildFarm.Registry.Tests;

/// <summary>The Bearer token flow against a real docker-registry configured for token authentication.</summary>
[NeedsServer(Server.Registry)]
public sealed class BearerRegistryTests
{
    [Fact]
    public async Task Bearer_challenges_are_answered_from_the_realm_with_the_docker_config_credentials()
    {
        _ = TestRegistry.Open; // ./test.sh installed docker-registry
        await using var registry = await BearerRegistry.StartAsync();
        var host = registry.HostPort;
        var repo = TestRegistry.UniqueRepository("bearer");
        var config = DockerConfig.TryParse(JsonSerializer.SerializeToUtf8Bytes(new { auths = new Dictionary<string, object>
        {
            [host] = new { username = BearerRegistry.User, password = BearerRegistry.Password },
        } }), out var parsed, out var error) ? parsed : throw new InvalidOperationException(error);
        using var client = new RegistryClient(TestRegistry.Options(host), config);
        var amd = MinimalImage.Create(OciPlatform.Parse("linux/amd64"), "bearer amd " + repo);
        var arm = MinimalImage.Create(OciPlatform.Parse("linux/arm64"), "bearer arm " + repo);
        var repository = RegistryReference.Parse($"{host}/{repo}");

        await client.PushImageAsync(repository, amd);
        await client.PushImageAsync(repository, arm);
        var result = await client.PushIndexAsync([$"{host}/{repo}:1"], [new(amd.Platform, amd.Digest), new(arm.Platform, arm.Digest)]);

        Assert.Equal(result.Digest, (await client.HeadManifestAsync(repository.WithTag("1")))!.Digest);
        var requests = BearerRegistry.TokenRequests.ToArray();
        Assert.NotEmpty(requests);
        Assert.All(requests, r => Assert.True(r.Authenticated));
        // The client asks for the scope the registry's challenge names. docker-registry lists a scope's actions from a
        // set with no fixed order, so a push challenge says "pull,push" or "push,pull" from one run to the next.
        Assert.Contains(requests, r => r.Query.Contains("service=" + BearerRegistry.Service, StringComparison.Ordinal)
            && (r.Query.Contains(Uri.EscapeDataString($"repository:{repo}:pull,push"), StringComparison.Ordinal)
                || r.Query.Contains(Uri.EscapeDataString($"repository:{repo}:push,pull"), StringComparison.Ordinal)));
        // Tokens are cached per scope: a handful of token requests for a dozen registry requests.
        Assert.True(requests.Length <= 4, $"{requests.Length} token requests");

        using var anonymous = new RegistryClient(TestRegistry.Options(host));
        var refused = await Assert.ThrowsAsync<RegistryException>(() => anonymous.HeadManifestAsync(repository.WithTag("1")));
        Assert.Equal(401, refused.StatusCode);
        Assert.Contains("token endpoint", refused.Message, StringComparison.Ordinal);
    }
}
