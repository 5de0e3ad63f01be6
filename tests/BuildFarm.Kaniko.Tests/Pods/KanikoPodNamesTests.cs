using System.Text.RegularExpressions;
using BuildFarm.Kaniko.Pods;

namespace BuildFarm.Kaniko.Tests.Pods;

public sealed partial class KanikoPodNamesTests
{
    [Fact]
    public void PodName_SimpleId_IsPrefixIdAttempt() =>
        Assert.Equal("bf-build42-3", KanikoPodNames.PodName("build42", 3));

    [Fact]
    public void PodName_SameInput_SameName() =>
        Assert.Equal(KanikoPodNames.PodName("Some_Build.ID", 2), KanikoPodNames.PodName("Some_Build.ID", 2));

    [Fact]
    public void PodName_ChangedId_GetsHashOfFullId()
    {
        var name = KanikoPodNames.PodName("Build_42", 1);

        Assert.Equal($"bf-build-42-{KanikoPodNames.ShortHash("Build_42")}-1", name);
    }

    [Fact]
    public void PodName_IdsThatSanitiseAlike_StayDistinct()
    {
        var names = new[] { "build-42", "Build-42", "build_42", "build.42", "build--42" }
            .Select(id => KanikoPodNames.PodName(id, 1))
            .ToList();

        Assert.Equal(names.Count, names.Distinct().Count());
    }

    [Fact]
    public void PodName_LongId_TruncatedWithHashAndAttemptKept()
    {
        var id = new string('a', 100);

        var name = KanikoPodNames.PodName(id, 12);

        Assert.Equal(63, name.Length);
        Assert.EndsWith($"-{KanikoPodNames.ShortHash(id)}-12", name, StringComparison.Ordinal);
        Assert.StartsWith("bf-aaaa", name, StringComparison.Ordinal);
    }

    [Fact]
    public void PodName_LongIdsWithSamePrefix_Differ()
    {
        var prefix = new string('b', 70);

        Assert.NotEqual(KanikoPodNames.PodName(prefix + "1", 1), KanikoPodNames.PodName(prefix + "2", 1));
    }

    [Fact]
    public void PodName_IdThatJustFits_NotChanged()
    {
        var id = new string('c', 63 - "bf-".Length - "-1".Length);

        Assert.Equal($"bf-{id}-1", KanikoPodNames.PodName(id, 1));
    }

    [Theory]
    [InlineData("build42", 1)]
    [InlineData("BUILD-42", 1)]
    [InlineData("---", 1)]
    [InlineData("日本語のビルド", 1)]
    [InlineData("a/b:c@d e", 7)]
    [InlineData("01HZX7Q0M8N4V6E3K2J1F9G5TR", 3)]
    [InlineData("-lead-and-trail-", 99)]
    [InlineData("x", int.MaxValue)]
    public void PodName_AnyId_IsDns1123LabelEndingInAttempt(string id, int attempt)
    {
        var name = KanikoPodNames.PodName(id, attempt);
        var debugName = KanikoPodNames.DebugPodName(id, attempt);

        Assert.Matches(Dns1123Label(), name);
        Assert.True(name.Length <= 63, name);
        Assert.EndsWith($"-{attempt}", name, StringComparison.Ordinal);
        Assert.Matches(Dns1123Label(), debugName);
        Assert.True(debugName.Length <= 63, debugName);
        Assert.EndsWith($"-{attempt}-debug", debugName, StringComparison.Ordinal);
    }

    [Fact]
    public void PodName_AttemptBelowOne_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => KanikoPodNames.PodName("b", 0));

    [Fact]
    public void PodName_EmptyId_Throws() =>
        Assert.Throws<ArgumentException>(() => KanikoPodNames.PodName(" ", 1));

    [Theory]
    [InlineData("build-42")]
    [InlineData("Build_42.x")]
    [InlineData("")]
    public void LabelValue_ValidValue_Unchanged(string value) =>
        Assert.Equal(value, KanikoPodNames.LabelValue(value));

    [Theory]
    [InlineData("a/b c")]
    [InlineData("-x-")]
    [InlineData("ééé")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123456789")]
    public void LabelValue_InvalidValue_MadeValidWithHash(string value)
    {
        var label = KanikoPodNames.LabelValue(value);

        Assert.True(KanikoPodNames.IsValidLabelValue(label), label);
        Assert.EndsWith(KanikoPodNames.ShortHash(value), label, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("kubernetes.io/hostname", true)]
    [InlineData("pool", true)]
    [InlineData("Bad Key", false)]
    [InlineData("/x", false)]
    [InlineData("", false)]
    public void IsValidLabelKey_Cases(string key, bool valid) =>
        Assert.Equal(valid, KanikoPodNames.IsValidLabelKey(key));

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1123Label();
}
