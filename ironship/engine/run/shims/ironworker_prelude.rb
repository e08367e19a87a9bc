# Loaded into Ruby workers by the ironship engine (ruby -r, or RUBYOPT under a runner script).
# Gives workers the helpers IronWorker's Ruby runner defined (iron_worker_ng's __runner__.rb):
#   payload       the payload as the raw string
#   params        the payload parsed when it is JSON (string and symbol keys), else the string
#   config        the code's config parsed when it is JSON, else the string; nil without one
#   iron_task_id  the task id (iron_schedule_id too, for scheduled tasks)
# Arguments come in pairs in any order (docs/ironworker-api.md §6 (Worker runtime contract));
# PAYLOAD_FILE, CONFIG_FILE and TASK_ID fill in whatever the arguments did not give. A
# __runner__.rb that defines the same methods (the official client's) simply replaces these.

module IronshipPrelude
  # A Hash that answers for a symbol key as for its string, like IronWorker's params.
  class IndifferentHash < Hash
    def self.wrap(value)
      case value
      when Hash
        value.each_with_object(new) { |(k, v), out| out.store(k.to_s, wrap(v)) }
      when Array
        value.map { |v| wrap(v) }
      else
        value
      end
    end

    def [](key)
      super(key.is_a?(Symbol) ? key.to_s : key)
    end

    def fetch(key, *rest, &block)
      super(key.is_a?(Symbol) ? key.to_s : key, *rest, &block)
    end

    def key?(key)
      super(key.is_a?(Symbol) ? key.to_s : key)
    end
    alias has_key? key?
    alias include? key?
    alias member? key?

    def dig(key, *rest)
      value = self[key]
      rest.empty? || value.nil? ? value : value.dig(*rest)
    end
  end

  def self.argument(name)
    at = ARGV.index(name)
    at.nil? ? nil : ARGV[at + 1]
  end

  def self.read(file)
    return nil if file.nil? || file.empty? || !File.file?(file)

    File.read(file)
  end

  def self.parse(text)
    return nil if text.nil?

    require 'json'
    IndifferentHash.wrap(JSON.parse(text))
  rescue JSON::ParserError
    text
  end

  def self.payload
    @payload ||= read(argument('-payload') || ENV['PAYLOAD_FILE']) || ''
  end

  def self.params
    @params = parse(payload) unless defined?(@params)
    @params
  end

  def self.config
    @config = parse(read(argument('-config') || ENV['CONFIG_FILE'])) unless defined?(@config)
    @config
  end

  def self.task_id
    argument('-id') || ENV['TASK_ID']
  end

  def self.schedule_id
    argument('-schedule_id')
  end
end

def payload
  IronshipPrelude.payload
end

def params
  IronshipPrelude.params
end

def config
  IronshipPrelude.config
end

def iron_task_id
  IronshipPrelude.task_id
end

def iron_schedule_id
  IronshipPrelude.schedule_id
end
