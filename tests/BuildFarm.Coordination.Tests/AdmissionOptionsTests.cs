using BuildFarm.Coordination.Scheduling;

namespace BuildFarm.Coordination.Tests;

public sealed class AdmissionOptionsTests
{
    [Fact]
    public void MaxInFlightAge_DefaultsToSixHours_AndIsBoundedByOneMinuteAndSevenDays()
    {
        Assert.Equal(TimeSpan.FromHours(6), new AdmissionOptions().MaxInFlightAge);
        Assert.Empty(new AdmissionOptions().Validate());
        Assert.Empty(new AdmissionOptions { MaxInFlightAge = TimeSpan.FromMinutes(1) }.Validate());
        Assert.Empty(new AdmissionOptions { MaxInFlightAge = TimeSpan.FromDays(7) }.Validate());
        Assert.Contains("Scheduling:MaxInFlightAge", Assert.Single(new AdmissionOptions { MaxInFlightAge = TimeSpan.FromSeconds(59) }.Validate()));
        Assert.Contains("Scheduling:MaxInFlightAge", Assert.Single(new AdmissionOptions { MaxInFlightAge = TimeSpan.FromDays(8) }.Validate()));
    }
}
