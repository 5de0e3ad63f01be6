using System.Text;
using System.Text.Json;

namespace BuildFarm.Registry.Tests;

/// <summary>The client against the real docker-registry processes ./test.sh starts (with and without Basic auth).</summary>
[NeedsServer(Server.Registry)]
public sealed class LiveRegistryTests
{
    private static readonly OciPlatform Amd64 = OciPlatform.Parse("linux/amd64");
    private static readonly OciPlatform Arm64 = OciPlatform.Parse("linux/arm64/v8");

    [Theory]
    [InlineData(false, OciMediaTypes.DockerManifestList)]
    [InlineData(true, OciMediaTypes.OciIndex)]
    public async Task Two_platform_images_are_joined_into_an_index_at_every_destination_tag(bool oci, string expectedIndexType)
    {
        var host = TestRegistry.Open;
        var repo = TestRegistry.UniqueRepository("index");
        using var client = new RegistryClient(TestRegistry.Options(host));
        var (amd, arm) = (MinimalImage.Create(Amd64, "amd64 " + repo, oci), MinimalImage.Create(Arm64, "arm64 " + repo, oci));
        var repository = RegistryReference.Parse($"{host}/{repo}");

        // Per platform, pushed by digest only (no tag), as the farm's per-platform pods leave them for the index.
        Assert.Equal(amd.Digest, await client.PushImageAsync(repository, amd));
        Assert.Equal(arm.Digest, await client.PushImageAsync(repository, arm));

        var result = await client.PushIndexAsync(
            [$"{host}/{repo}:1.0", $"{host}/{repo}:latest"],
            [new PlatformManifest(Amd64, amd.Digest), new PlatformManifest(Arm64, arm.Digest)]);

        Assert.Equal(expectedIndexType, result.MediaType);
        Assert.Equal([$"{host}/{repo}:1.0", $"{host}/{repo}:latest"], result.Destinations);
        foreach (var tag in new[] { "1.0", "latest" })
        {
            var manifest = await client.GetManifestAsync(repository.WithTag(tag));
            Assert.NotNull(manifest);
            Assert.Equal(result.Digest, manifest.Digest);
            Assert.Equal(expectedIndexType, manifest.MediaType);
            var head = await client.HeadManifestAsync(repository.WithTag(tag));
            Assert.Equal(result.Digest, head!.Digest);
            var children = ImageIndex.Parse(manifest.Body);
            Assert.Equal(
                [(amd.Digest, amd.ManifestMediaType, (long)amd.Manifest.Length, "linux/amd64"), (arm.Digest, arm.ManifestMediaType, (long)arm.Manifest.Length, "linux/arm64/v8")],
                children.Select(c => (c.Digest, c.MediaType, c.Size, c.Platform!.ToString())));
        }

        // The per-platform image is genuine: its config names the platform and its layer's diff id.
        var armManifest = await client.GetManifestAsync(repository.WithDigest(arm.Digest));
        using var parsed = JsonDocument.Parse(armManifest!.Body);
        var configDigest = parsed.RootElement.GetProperty("config").GetProperty("digest").GetString()!;
        var config = await client.GetBlobAsync(repository, configDigest);
        using var configJson = JsonDocument.Parse(config!);
        Assert.Equal("arm64", configJson.RootElement.GetProperty("architecture").GetString());
        Assert.Equal("v8", configJson.RootElement.GetProperty("variant").GetString());
        Assert.Equal("linux", configJson.RootElement.GetProperty("os").GetString());

        if (TestRegistry.Skopeo is not null)
        {
            var raw = await TestRegistry.RunSkopeoAsync("inspect", "--raw", "--tls-verify=false", $"docker://{host}/{repo}:1.0");
            Assert.Equal(result.Digest, OciDigest.Compute(Encoding.UTF8.GetBytes(raw)));
            using var skopeoIndex = JsonDocument.Parse(raw);
            Assert.Equal(expectedIndexType, skopeoIndex.RootElement.GetProperty("mediaType").GetString());
            var platforms = skopeoIndex.RootElement.GetProperty("manifests").EnumerateArray()
                .Select(m => $"{m.GetProperty("platform").GetProperty("os").GetString()}/{m.GetProperty("platform").GetProperty("architecture").GetString()}")
                .ToList();
            Assert.Equal(["linux/amd64", "linux/arm64"], platforms);
            var armConfig = await TestRegistry.RunSkopeoAsync("inspect", "--config", "--raw", "--tls-verify=false", "--override-arch", "arm64", "--override-variant", "v8", $"docker://{host}/{repo}:1.0");
            Assert.Contains("\"architecture\":\"arm64\"", armConfig, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_missing_platform_fails_naming_it_and_tags_nothing()
    {
        var host = TestRegistry.Open;
        var repo = TestRegistry.UniqueRepository("missing");
        using var client = new RegistryClient(TestRegistry.Options(host));
        var amd = MinimalImage.Create(Amd64, "amd64 " + repo);
        var repository = RegistryReference.Parse($"{host}/{repo}");
        await client.PushImageAsync(repository, amd);
        var absent = MinimalImage.Create(Arm64, "never pushed " + repo);

        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PushIndexAsync(
            [$"{host}/{repo}:1.0"], [new PlatformManifest(Amd64, amd.Digest), new PlatformManifest(Arm64, absent.Digest)]));

        Assert.Contains("platform linux/arm64/v8", error.Message, StringComparison.Ordinal);
        Assert.Contains(absent.Digest, error.Message, StringComparison.Ordinal);
        Assert.Null(await client.HeadManifestAsync(repository.WithTag("1.0")));
    }

    [Fact]
    public async Task Basic_auth_uses_the_docker_config_and_anonymous_is_refused_clearly()
    {
        var host = TestRegistry.WithAuth;
        var repo = TestRegistry.UniqueRepository("auth");
        var repository = RegistryReference.Parse($"{host}/{repo}");
        var image = MinimalImage.Create(Amd64, "auth " + repo);

        using (var anonymous = new RegistryClient(TestRegistry.Options(host)))
        {
            var error = await Assert.ThrowsAsync<RegistryException>(() => anonymous.PushImageAsync(repository, image));
            Assert.Equal(401, error.StatusCode);
            Assert.Contains("Basic", error.Message, StringComparison.Ordinal);
            Assert.Contains("no credentials", error.Message, StringComparison.Ordinal);
        }

        using var client = new RegistryClient(TestRegistry.Options(host), TestRegistry.Credentials(host));
        var arm = MinimalImage.Create(Arm64, "auth arm " + repo);
        await client.PushImageAsync(repository, image);
        await client.PushImageAsync(repository, arm);
        var result = await client.PushIndexAsync([$"{host}/{repo}:v1"], [new PlatformManifest(Amd64, image.Digest), new PlatformManifest(Arm64, arm.Digest)]);
        Assert.Equal(result.Digest, (await client.HeadManifestAsync(repository.WithTag("v1")))!.Digest);

        using var wrong = new RegistryClient(TestRegistry.Options(host), DockerConfig.TryParse(
            JsonSerializer.SerializeToUtf8Bytes(new { auths = new Dictionary<string, object> { [host] = new { username = TestRegistry.User, password = "wrong" } } }), out var config, out _) ? config : null);
        var refused = await Assert.ThrowsAsync<RegistryException>(() => wrong.HeadManifestAsync(repository.WithTag("v1")));
        Assert.Equal(401, refused.StatusCode);

        if (TestRegistry.Skopeo is not null)
        {
            var raw = await TestRegistry.RunSkopeoAsync("inspect", "--raw", "--tls-verify=false",
                "--creds", $"{TestRegistry.User}:{TestRegistry.Password}", $"docker://{host}/{repo}:v1");
            Assert.Equal(result.Digest, OciDigest.Compute(Encoding.UTF8.GetBytes(raw)));
        }
    }

    [Fact]
    public async Task A_reset_between_client_and_registry_is_retried_and_counted_in_phase_index()
    {
        var host = TestRegistry.Open;
        var repo = TestRegistry.UniqueRepository("reset");
        await using var proxy = new TcpFaultProxy(host);
        // The image names registry.test; the endpoint map sends it through the proxy (as a scenario maps a registry host).
        var options = TestRegistry.Options(host);
        options.Endpoints["registry.test"] = new Uri($"http://{proxy.HostPort}/");
        var resets = new RecordingResets();
        using var client = new RegistryClient(options, resets: resets);
        var repository = RegistryReference.Parse($"registry.test/{repo}");
        var amd = MinimalImage.Create(Amd64, "reset amd " + repo);
        var arm = MinimalImage.Create(Arm64, "reset arm " + repo);
        await client.PushImageAsync(repository, amd);
        await client.PushImageAsync(repository, arm);
        Assert.Empty(resets.Resets);

        // Fresh connections from here on (a new client: no pooled connection), the first one reset, the next one a 503.
        using var indexClient = new RegistryClient(options, resets: resets);
        proxy.Plan(TcpFaultProxy.Fault.Reset, TcpFaultProxy.Fault.ServiceUnavailable);
        var result = await indexClient.PushIndexAsync([$"registry.test/{repo}:2.0"], [new PlatformManifest(Amd64, amd.Digest), new PlatformManifest(Arm64, arm.Digest)]);

        Assert.Equal(2, proxy.FaultsInjected);
        Assert.Equal([("registry.test", "index")], resets.Resets.ToArray());
        Assert.Equal(result.Digest, (await indexClient.HeadManifestAsync(repository.WithTag("2.0")))!.Digest);
    }

    [Fact]
    public async Task Resets_beyond_the_retries_fail_and_each_is_counted()
    {
        var host = TestRegistry.Open;
        await using var proxy = new TcpFaultProxy(host);
        var options = TestRegistry.Options(host);
        options.MaxRetries = 2;
        options.Endpoints["registry.test"] = new Uri($"http://{proxy.HostPort}/");
        var resets = new RecordingResets();
        using var client = new RegistryClient(options, resets: resets);
        proxy.Plan(TcpFaultProxy.Fault.Reset, TcpFaultProxy.Fault.Reset, TcpFaultProxy.Fault.Reset);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.HeadManifestAsync(RegistryReference.Parse("registry.test/some/repo:1")));

        Assert.Equal(3, resets.Resets.Count);
    }

    [Fact]
    public async Task A_manifest_over_the_limit_is_refused_not_read()
    {
        var host = TestRegistry.Open;
        var repo = TestRegistry.UniqueRepository("bound");
        using var client = new RegistryClient(TestRegistry.Options(host));
        var image = MinimalImage.Create(Amd64, "bound " + repo);
        var reference = RegistryReference.Parse($"{host}/{repo}:big");
        await client.PushImageAsync(reference, image);

        var options = TestRegistry.Options(host);
        options.MaxManifestBytes = 100;
        using var small = new RegistryClient(options);
        var error = await Assert.ThrowsAsync<RegistryException>(() => small.GetManifestAsync(reference));
        Assert.Contains("over the limit of 100", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_manifest_unknown_to_the_registry_is_null_and_errors_carry_the_registry_code()
    {
        var host = TestRegistry.Open;
        using var client = new RegistryClient(TestRegistry.Options(host));
        var repository = RegistryReference.Parse($"{host}/{TestRegistry.UniqueRepository("unknown")}");
        Assert.Null(await client.HeadManifestAsync(repository.WithTag("nope")));
        Assert.Null(await client.GetManifestAsync(repository.WithTag("nope")));
        Assert.False(await client.BlobExistsAsync(repository, OciDigest.Compute([1, 2, 3])));

        // A manifest naming blobs the repository does not hold: the registry's own error code comes back.
        var image = MinimalImage.Create(Amd64, "orphan");
        var error = await Assert.ThrowsAsync<RegistryException>(() => client.PutManifestAsync(repository.WithTag("orphan"), image.ManifestMediaType, image.Manifest));
        Assert.Equal(400, error.StatusCode);
        Assert.Equal("MANIFEST_BLOB_UNKNOWN", error.ErrorCode);
    }
}
