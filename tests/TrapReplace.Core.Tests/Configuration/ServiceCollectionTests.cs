using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TrapReplace.Configuration;
using TrapReplace.Replacement;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Core.Tests.Configuration;

public sealed class ServiceCollectionTests
{
    private static ServiceProvider Provider(Dictionary<string, string?> values)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        return new ServiceCollection().AddLogging().AddTrapReplace(configuration.GetSection("TrapReplace")).BuildServiceProvider();
    }

    [Fact]
    public void Options_bind_from_configuration()
    {
        using var provider = Provider(new()
        {
            ["TrapReplace:Trap:Epochs"] = "30",
            ["TrapReplace:Trap:Optimizer"] = "Sgd",
            ["TrapReplace:Replace:LearningRate"] = "0.01",
            ["TrapReplace:Replace:Selection"] = "LastEpoch",
        });

        var trap = provider.GetRequiredService<TrapTrainer>().Options;
        var replace = provider.GetRequiredService<HeadReplacer>().Options;

        trap.Epochs.Should().Be(30);
        trap.Optimizer.Should().Be(OptimizerKind.Sgd);
        trap.ReconstructionWeight.Should().Be(10);
        replace.LearningRate.Should().Be(0.01);
        replace.Selection.Should().Be(HeadSelection.LastEpoch);
    }

    [Fact]
    public void Invalid_configuration_fails_when_resolved_naming_the_values()
    {
        using var provider = Provider(new() { ["TrapReplace:Trap:BatchSize"] = "0", ["TrapReplace:Trap:Threads"] = "-2" });

        var act = () => provider.GetRequiredService<TrapTrainer>();

        act.Should().Throw<OptionsValidationException>()
            .Which.Failures.Should().Contain("BatchSize must be >= 1; got 0.").And.Contain("Threads must be >= 0; got -2.");
    }

    [Fact]
    public void The_device_binds_from_its_name_and_an_unknown_name_fails_naming_the_key_and_the_choices()
    {
        using (var provider = Provider(new() { ["TrapReplace:Replace:Device"] = "cuda:1" }))
            provider.GetRequiredService<IOptions<HeadReplacerOptions>>().Value.Device.Should().Be(ComputeDevice.Cuda(1));

        using var bad = Provider(new() { ["TrapReplace:Trap:Device"] = "gpu" });
        var act = () => bad.GetRequiredService<TrapTrainer>();

        var error = act.Should().Throw<InvalidOperationException>().Which;
        error.Message.Should().Contain("TrapReplace:Trap:Device");
        error.InnerException.Should().BeOfType<FormatException>().Which.Message.Should().Be("Device must be 'cpu', 'cuda' or 'cuda:N'; got 'gpu'.");
    }
}
