using BuildFarm.Kaniko.Specs;

namespace BuildFarm.Kaniko.Tests.Specs;

public sealed class ImageReferenceTests
{
    private const string Sha = "4e7a52dd1f14872430652bb3b027405b8dfd17c4538751c620ac005741ef9698";

    public static TheoryData<string, string, string, string?, string?> Valid => new()
    {
        // input, registry, repository, tag, digest
        { "alpine", "docker.io", "library/alpine", null, null },
        { "alpine:3.19", "docker.io", "library/alpine", "3.19", null },
        { "library/alpine", "docker.io", "library/alpine", null, null },
        { "team/app:1.0", "docker.io", "team/app", "1.0", null },
        { "docker.io/alpine", "docker.io", "library/alpine", null, null },
        { "index.docker.io/library/alpine:3", "docker.io", "library/alpine", "3", null },
        { "localhost/app", "localhost", "app", null, null },
        { "localhost:5000/team/app:dev", "localhost:5000", "team/app", "dev", null },
        { "registry.example.com:443/a/b/c:v1", "registry.example.com:443", "a/b/c", "v1", null },
        { "192.168.1.10:5000/app", "192.168.1.10:5000", "app", null, null },
        { "[::1]:5000/app:1", "[::1]:5000", "app", "1", null },
        { $"gcr.io/kaniko-project/executor:v1.24.0@sha256:{Sha}", "gcr.io", "kaniko-project/executor", "v1.24.0", $"sha256:{Sha}" },
        { $"ghcr.io/acme/app@sha256:{Sha}", "ghcr.io", "acme/app", null, $"sha256:{Sha}" },
        { "Registry.Example.com/app", "registry.example.com", "app", null, null },
        { "example.com/a__b/c-d--e.f_g:Tag_1.x-y", "example.com", "a__b/c-d--e.f_g", "Tag_1.x-y", null },
        { "my-registry.local:5000/x", "my-registry.local:5000", "x", null, null },
        { "team/app:_v", "docker.io", "team/app", "_v", null },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void TryParse_ValidReference_ExposesParts(string input, string registry, string repository, string? tag, string? digest)
    {
        var ok = ImageReference.TryParse(input, out var reference, out var error);

        Assert.True(ok, error);
        Assert.Equal(registry, reference!.Registry);
        Assert.Equal(repository, reference.Repository);
        Assert.Equal(tag, reference.Tag);
        Assert.Equal(digest, reference.Digest);
        Assert.Equal($"{registry}/{repository}", reference.Name);
    }

    public static TheoryData<string, string> Invalid => new()
    {
        // input, fragment of the error
        { "", "empty" },
        { " alpine", "whitespace" },
        { "Alpine", "lower case" },
        { "docker.io/Team/app", "lower case" },
        { "app:", "tag" },
        { "app:-bad", "tag" },
        { "app:" + new string('a', 129), "tag" },
        { "app@sha256:abc", "64 lower-case hex" },
        { "app@sha256:" + Sha.ToUpperInvariant(), "64 lower-case hex" },
        { "app@sha256", "algorithm:hex" },
        { "app@Sha256:" + Sha, "algorithm" },
        { ":tag", "empty" },
        { "registry.example.com/", "empty path component" },
        { "registry.example.com//app", "empty path component" },
        { "team/-app", "path component" },
        { "a..b/c", "registry host" },
        { "team/a..b", "path component" },
        { "_app/x", "path component" },
        { "host:99999/app", "port" },
        { "host:/app", "port" },
        { "bad_host.com/app", "host" },
        { "[::1/app", "IPv6" },
        { "[zz::1]:5000/app", "IPv6" },
        { "example.com/" + new string('a', 250), "255" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void TryParse_InvalidReference_FailsWithReason(string input, string expectedFragment)
    {
        Assert.False(ImageReference.TryParse(input, out var reference, out var error));
        Assert.Null(reference);
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_Invalid_ThrowsFormatExceptionNamingInput()
    {
        var e = Assert.Throws<FormatException>(() => ImageReference.Parse("Bad/Ref"));
        Assert.Contains("'Bad/Ref'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alpine:3", "docker.io/library/alpine:3")]
    [InlineData("localhost:5000/app", "localhost:5000/app")]
    [InlineData("INDEX.docker.io/team/app:v1", "docker.io/team/app:v1")]
    [InlineData("gcr.io/p/i@sha256:" + Sha, "gcr.io/p/i@sha256:" + Sha)]
    public void ToString_ReturnsNormalisedReference(string input, string expected) =>
        Assert.Equal(expected, ImageReference.Parse(input).ToString());

    [Theory]
    [InlineData("registry.example.com:5000/app", "registry.example.com")]
    [InlineData("[::1]:5000/app", "[::1]")]
    [InlineData("alpine", "docker.io")]
    public void RegistryHost_DropsPort(string input, string expected) =>
        Assert.Equal(expected, ImageReference.Parse(input).RegistryHost);

    [Fact]
    public void IsPinnedBySha256_OnlyWithSha256Digest()
    {
        Assert.True(ImageReference.Parse("gcr.io/p/i:v1@sha256:" + Sha).IsPinnedBySha256);
        Assert.False(ImageReference.Parse("gcr.io/p/i:v1").IsPinnedBySha256);
        Assert.False(ImageReference.Parse("gcr.io/p/i@sha512:" + Sha + Sha).IsPinnedBySha256);
    }
}
