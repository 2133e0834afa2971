using System.ComponentModel;
using System.Text.Json;
using TrapReplace.Training;

namespace TrapReplace.Core.Tests.Training;

[Collection(nameof(ComputeDeviceTests))]
public sealed class ComputeDeviceTests
{
    [Theory]
    [InlineData("cpu", false, null)]
    [InlineData("cuda", true, null)]
    [InlineData("cuda:0", true, 0)]
    [InlineData("cuda:12", true, 12)]
    public void TorchSharp_names_parse_and_print_back_unchanged(string name, bool cuda, int? index)
    {
        var device = ComputeDevice.Parse(name);

        (device.IsCuda, device.CudaIndex).Should().Be((cuda, index));
        device.ToString().Should().Be(name);
        ComputeDevice.TryParse(name, out var again).Should().BeTrue();
        again.Should().Be(device);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("CPU")]
    [InlineData(" cpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:+1")]
    [InlineData("cuda:x")]
    [InlineData("cuda:99999999999")]
    [InlineData("")]
    public void Anything_else_is_refused_with_the_value_and_the_choices(string name)
    {
        ComputeDevice.TryParse(name, out _).Should().BeFalse();
        FluentActions.Invoking(() => ComputeDevice.Parse(name)).Should().Throw<FormatException>()
            .WithMessage($"Device must be 'cpu', 'cuda' or 'cuda:N'; got '{name}'.");
    }

    [Fact]
    public void The_default_is_the_cpu_and_equality_is_by_value()
    {
        default(ComputeDevice).Should().Be(ComputeDevice.Cpu);
        ComputeDevice.Cpu.ToString().Should().Be("cpu");
        ComputeDevice.Cuda(1).Should().Be(ComputeDevice.Parse("cuda:1")).And.NotBe(ComputeDevice.Cuda());
        ComputeDevice.TryParse(null, out var none).Should().BeFalse();
        none.Should().Be(ComputeDevice.Cpu);
        FluentActions.Invoking(() => ComputeDevice.Cuda(-1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("index");
    }

    [Fact]
    public void The_type_converter_reads_and_writes_the_name_for_configuration_binding()
    {
        var converter = TypeDescriptor.GetConverter(typeof(ComputeDevice));

        converter.CanConvertFrom(typeof(string)).Should().BeTrue();
        converter.ConvertFromInvariantString("cuda:2").Should().Be(ComputeDevice.Cuda(2));
        converter.ConvertToInvariantString(ComputeDevice.Cuda()).Should().Be("cuda");
        FluentActions.Invoking(() => converter.ConvertFromInvariantString("tpu")).Should().Throw<FormatException>().WithMessage("*got 'tpu'*");
    }

    [Fact]
    public void JSON_holds_the_name_as_the_string_it_was_before_the_type()
    {
        JsonSerializer.Serialize(ComputeDevice.Cuda(1)).Should().Be("\"cuda:1\"");
        JsonSerializer.Serialize(new { Device = ComputeDevice.Cpu }).Should().Be("{\"Device\":\"cpu\"}");
        JsonSerializer.Deserialize<ComputeDevice>("\"cuda\"").Should().Be(ComputeDevice.Cuda());
        FluentActions.Invoking(() => JsonSerializer.Deserialize<ComputeDevice>("\"tpu\"")).Should().Throw<JsonException>().WithMessage("*got 'tpu'*");
        FluentActions.Invoking(() => JsonSerializer.Deserialize<ComputeDevice>("{}")).Should().Throw<JsonException>().WithMessage("a device is a string*");
    }
}
