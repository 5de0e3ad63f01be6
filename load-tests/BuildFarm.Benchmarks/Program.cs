using BenchmarkDotNet.Running;
using BuildFarm.Benchmarks;

if (args.Length > 0 && args[0] == "batch-advance")
{
    return await BatchAdvanceLoad.RunAsync(args[1..]);
}
if (args.Length > 0 && args[0] == "registry-congestion")
{
    return RegistryCongestionLoad.Run(args[1..]);
}
if (args.Length > 0 && args[0] == "schedule-makespan")
{
    return ScheduleLoad.RunMakespan(args[1..]);
}
if (args.Length > 0 && args[0] == "schedule-fairness")
{
    return ScheduleLoad.RunFairness(args[1..]);
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
