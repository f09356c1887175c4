"""The one list of frames: what clients send and what the server sends.

Adding a frame means adding it here; the codec, the schema and the server's
dispatch all start from these tuples.
"""

from __future__ import annotations

from typing import get_args

from protocol.auth import Login, LoginKey, Resume, Welcome
from protocol.calls import (
    AgentAnswered,
    CallbackQueued,
    CallbackRequest,
    CallDetail,
    CallFailed,
    CallList,
    CallPush,
    CallRinging,
    CallTransferred,
    CancelScheduledCall,
    Connect,
    CustomerAnswered,
    GetCall,
    GetJourney,
    Hangup,
    Journey,
    ListCalls,
    Originate,
    PlaceCallback,
    Play,
    RingAgent,
    ScheduleCall,
    Scheduled,
    SetCallResult,
    StartScheduledCall,
    StopRinging,
)
from protocol.cases import (
    AddCaseNote,
    AdviseCase,
    Articles,
    ArticleSaved,
    CaseAck,
    CaseChanged,
    CaseDetail,
    CaseList,
    CaseLookups,
    CaseReply,
    CreateCase,
    EscalateCase,
    GetCase,
    GetCaseLookups,
    ListCases,
    PutArticle,
    PutCaseQueue,
    PutMailTemplate,
    RateCase,
    SearchArticles,
    SetCaseStatus,
    TakeCase,
    UpdateCase,
)
from protocol.chats import (
    ChatHistory,
    ChatList,
    ChatTranscript,
    Contacts,
    DeleteTemplate,
    FileData,
    FindContacts,
    GetChat,
    GetFile,
    GetLookups,
    Identified,
    Identify,
    ListChats,
    Lookups,
    MessageSent,
    NewMessage,
    PutTemplate,
    SearchChats,
    SendFile,
    SendMessage,
    UpdateChat,
)
from protocol.common import Error, Ok, Ping, Pong
from protocol.routing import (
    Accept,
    AgentChanged,
    Decline,
    End,
    InteractionChanged,
    OfferClosed,
    Offered,
    SetStatus,
    WrapUpDone,
)
from protocol.sources import CallHangup, CallIncoming, Created, StartChat
from protocol.supervision import (
    ApiKeyCreated,
    ConfigSnapshot,
    CreateApiKey,
    Dashboard,
    DeleteAgent,
    DeleteApiKey,
    DeleteQueue,
    EndInteraction,
    GetConfig,
    ListWaiting,
    PutAgent,
    PutQueue,
    QueueFigures,
    Reassign,
    Reassigned,
    SetAgentStatus,
    Unwatch,
    WaitingList,
    Watch,
)

AUTH_FRAMES = (Login, LoginKey, Resume)

ClientFrame = (
    Login
    | LoginKey
    | Resume
    | Ping
    | SetStatus
    | Accept
    | Decline
    | End
    | WrapUpDone
    | StartChat
    | CallIncoming
    | CallHangup
    | Watch
    | Unwatch
    | SetAgentStatus
    | EndInteraction
    | Reassign
    | ListWaiting
    | GetConfig
    | PutQueue
    | DeleteQueue
    | PutAgent
    | DeleteAgent
    | CreateApiKey
    | DeleteApiKey
    | SendMessage
    | SendFile
    | GetFile
    | GetChat
    | UpdateChat
    | ListChats
    | SearchChats
    | Identify
    | FindContacts
    | GetLookups
    | PutTemplate
    | DeleteTemplate
    | CallRinging
    | AgentAnswered
    | CustomerAnswered
    | CallTransferred
    | CallFailed
    | CallbackRequest
    | PlaceCallback
    | ScheduleCall
    | CancelScheduledCall
    | StartScheduledCall
    | SetCallResult
    | GetCall
    | ListCalls
    | GetJourney
    | CreateCase
    | GetCase
    | ListCases
    | UpdateCase
    | TakeCase
    | SetCaseStatus
    | EscalateCase
    | AdviseCase
    | AddCaseNote
    | CaseReply
    | RateCase
    | PutArticle
    | SearchArticles
    | GetCaseLookups
    | PutCaseQueue
    | PutMailTemplate
)

ServerFrame = (
    Welcome
    | Ok
    | Error
    | Pong
    | Created
    | Dashboard
    | ConfigSnapshot
    | ApiKeyCreated
    | Offered
    | OfferClosed
    | AgentChanged
    | InteractionChanged
    | QueueFigures
    | Reassigned
    | WaitingList
    | MessageSent
    | NewMessage
    | FileData
    | ChatTranscript
    | ChatList
    | ChatHistory
    | Identified
    | Contacts
    | Lookups
    | CallbackQueued
    | Scheduled
    | CallDetail
    | CallList
    | Journey
    | CallPush
    | RingAgent
    | StopRinging
    | Connect
    | Play
    | Originate
    | Hangup
    | CaseDetail
    | CaseList
    | CaseAck
    | CaseChanged
    | ArticleSaved
    | Articles
    | CaseLookups
)

CLIENT_FRAMES: tuple[type, ...] = get_args(ClientFrame)
SERVER_FRAMES: tuple[type, ...] = get_args(ServerFrame)
