using System.Text;
using System.Text.Json;

namespace BuildFarm.Registry.Tests;

public sealed class ImageIndexTests
{
    private static readonly OciPlatform Amd64 = OciPlatform.Parse("linux/amd64");
    private static readonly OciPlatform Arm64 = OciPlatform.Parse("linux/arm64/v8");

    [Fact]
    public void Docker_manifests_make_a_manifest_list_and_oci_ones_an_oci_index()
    {
        var docker = new[] { MinimalImage.Create(Amd64, "a").Descriptor, MinimalImage.Create(Arm64, "b").Descriptor };
        var oci = new[] { MinimalImage.Create(Amd64, "a", oci: true).Descriptor, MinimalImage.Create(Arm64, "b", oci: true).Descriptor };
        Assert.Equal(OciMediaTypes.DockerManifestList, ImageIndex.Build(docker).MediaType);
        Assert.Equal(OciMediaTypes.OciIndex, ImageIndex.Build(oci).MediaType);
        Assert.Equal(OciMediaTypes.OciIndex, ImageIndex.Build([docker[0], oci[1]]).MediaType);
        Assert.Equal(OciMediaTypes.OciIndex, ImageIndex.Build(docker, IndexFormat.Oci).MediaType);
    }

    [Fact]
    public void The_index_names_each_manifest_with_its_platform_in_order_and_round_trips()
    {
        var amd = MinimalImage.Create(Amd64, "a");
        var arm = MinimalImage.Create(Arm64, "b");
        var (mediaType, body) = ImageIndex.Build([amd.Descriptor, arm.Descriptor]);
        using var json = JsonDocument.Parse(body);
        Assert.Equal(2, json.RootElement.GetProperty("schemaVersion").GetInt32());
        Assert.Equal(mediaType, json.RootElement.GetProperty("mediaType").GetString());
        var second = json.RootElement.GetProperty("manifests")[1];
        Assert.Equal(arm.Digest, second.GetProperty("digest").GetString());
        Assert.Equal(arm.Manifest.Length, second.GetProperty("size").GetInt64());
        Assert.Equal("arm64", second.GetProperty("platform").GetProperty("architecture").GetString());
        Assert.Equal("v8", second.GetProperty("platform").GetProperty("variant").GetString());
        Assert.False(json.RootElement.GetProperty("manifests")[0].GetProperty("platform").TryGetProperty("variant", out _));
        Assert.Equal([amd.Descriptor, arm.Descriptor], ImageIndex.Parse(body));
        Assert.Equal(body, ImageIndex.Build([amd.Descriptor, arm.Descriptor]).Body);
    }

    [Fact]
    public void Bad_children_are_refused_naming_the_entry()
    {
        var amd = MinimalImage.Create(Amd64, "a").Descriptor;
        Assert.Contains("appears twice", Assert.Throws<ArgumentException>(() => ImageIndex.Build([amd, amd with { Digest = OciDigest.Compute([1]) }])).Message, StringComparison.Ordinal);
        Assert.Contains("manifests[0]: a platform", Assert.Throws<ArgumentException>(() => ImageIndex.Build([amd with { Platform = null }])).Message, StringComparison.Ordinal);
        Assert.Contains("not an image manifest", Assert.Throws<ArgumentException>(() => ImageIndex.Build([amd with { MediaType = OciMediaTypes.OciIndex }])).Message, StringComparison.Ordinal);
        Assert.Contains("sha256", Assert.Throws<ArgumentException>(() => ImageIndex.Build([amd with { Digest = "md5:x" }])).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ImageIndex.Build([]));
        var many = Enumerable.Range(0, ImageIndex.MaxManifests + 1).Select(i => amd with { Platform = new OciPlatform("linux", $"a{i}") }).ToList();
        Assert.Throws<ArgumentException>(() => ImageIndex.Build(many));
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"manifests\":[{\"digest\":\"sha256:nothex\"}]}")]
    [InlineData("{\"manifests\":[{\"digest\":5}]}")]
    [InlineData("not json")]
    public void Bad_indexes_do_not_parse(string json) =>
        Assert.Throws<FormatException>(() => ImageIndex.Parse(Encoding.UTF8.GetBytes(json)));

    [Fact]
    public void Minimal_images_are_deterministic_and_name_their_platform_in_the_config()
    {
        var one = MinimalImage.Create(Arm64, "same");
        Assert.Equal(one.Digest, MinimalImage.Create(Arm64, "same").Digest);
        Assert.NotEqual(one.Digest, MinimalImage.Create(Arm64, "other").Digest);
        Assert.NotEqual(one.Digest, MinimalImage.Create(Amd64, "same").Digest);
        using var config = JsonDocument.Parse(one.Config.Content);
        Assert.Equal("arm64", config.RootElement.GetProperty("architecture").GetString());
        Assert.Equal("v8", config.RootElement.GetProperty("variant").GetString());
        Assert.Single(config.RootElement.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray());
        using var manifest = JsonDocument.Parse(one.Manifest);
        Assert.Equal(one.Config.Digest, manifest.RootElement.GetProperty("config").GetProperty("digest").GetString());
        Assert.Equal(one.Layer.Digest, manifest.RootElement.GetProperty("layers")[0].GetProperty("digest").GetString());
        Assert.Equal(OciDigest.Compute(one.Layer.Content), one.Layer.Digest);
    }
}
